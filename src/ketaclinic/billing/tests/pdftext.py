"""The text of a PDF that fpdf2 wrote with its core fonts: every string shown by Tj/TJ in
the (deflated) content streams, one line per text object. Enough to test what a superbill
says without a PDF library."""

from __future__ import annotations

import re
import zlib

STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
SHOWN = re.compile(rb"\((.*?)(?<!\\)\)\s*Tj")


def pdf_text(pdf: bytes) -> str:
    lines = []
    for raw in STREAM.findall(pdf):
        try:
            content = zlib.decompress(raw)
        except zlib.error:
            content = raw
        for block in content.split(b"BT")[1:]:
            shown = b"".join(SHOWN.findall(block))
            text = shown.replace(rb"\(", b"(").replace(rb"\)", b")").replace(rb"\\", b"\\")
            if text:
                lines.append(text.decode("latin-1"))
    return "\n".join(lines)
