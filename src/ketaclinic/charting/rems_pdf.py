"""PDF print-out of a filled Spravato REMS Patient Monitoring Form.

Renders a `ketaclinic.clinical.rems.RemsForm` (clinical-reference.md section 6 (Spravato
REMS Patient Monitoring Form)) with fpdf2: heading, subtitle, a Label | Value table with
missing values shown as a bold "MISSING", the warnings, and a footer with the generation
time and the 7-day submission reminder.

Only the core Helvetica font is used, so every string is first made latin-1 safe: common
typographic characters get an ASCII equivalent (dashes, quotes, arrows), accents outside
latin-1 are dropped, and anything else becomes "?". Rendering therefore never raises on
user text. No Django imports.
"""

from __future__ import annotations

import unicodedata

from fpdf import FPDF
from fpdf.fonts import FontFace

from ketaclinic.clinical.rems import DEFAULT_FORM_DUE_DAYS, RemsForm

__all__ = ["FORM_HEADING", "latin1_safe", "rems_form_pdf"]

FORM_HEADING = "Spravato REMS Patient Monitoring Form"
MISSING_TEXT = "MISSING"

_ASCII_EQUIVALENTS = {
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u2026": "...",
    "\u2022": "*",
    "\u2190": "<-",
    "\u2192": "->",
    "\u2194": "<->",
    "\u21d2": "=>",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u2260": "!=",
    "\u2248": "~",
    "\u2122": "(TM)",
    "\u20ac": "EUR",
    "\u2009": " ",  # thin space
    "\u200a": " ",  # hair space
    "\u202f": " ",  # narrow no-break space
    "\u200b": "",  # zero-width space
    "\ufeff": "",  # byte-order mark
}


def latin1_safe(text: str) -> str:
    """`text` with only printable latin-1 characters (newlines kept)."""
    out: list[str] = []
    for char in str(text):
        if char in _ASCII_EQUIVALENTS:
            out.append(_ASCII_EQUIVALENTS[char])
            continue
        if char == "\n":
            out.append(char)
            continue
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0:  # control characters
            out.append(" ")
            continue
        if code <= 0xFF:
            out.append(char)
            continue
        # Outside latin-1: try the letter without its accent (r with caron -> "r"); letters
        # with no decomposition (l with stroke) become "?".
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        if base and all(0x20 <= ord(c) <= 0x7E or 0xA0 <= ord(c) <= 0xFF for c in base):
            out.append(base)
        else:
            out.append("?")
    return "".join(out)


class _RemsPdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "I", 8)
        self.set_text_color(90)
        self.cell(0, 5, self._footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()}/{{nb}}", align="R")


def rems_form_pdf(form: RemsForm, *, title: str, generated_at_text: str) -> bytes:
    """The form as PDF bytes (A4, one page or more if needed).

    `title` is the subtitle under the heading (e.g. patient name and treatment date);
    `generated_at_text` goes in the footer with the submission reminder.
    """
    footer = latin1_safe(
        f"{generated_at_text} - Submit within {DEFAULT_FORM_DUE_DAYS} days of the session"
    )
    pdf = _RemsPdf(footer)
    pdf.set_title(latin1_safe(f"{FORM_HEADING}: {title}"))
    pdf.set_creator("ketaclinic")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()

    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, FORM_HEADING, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    pdf.multi_cell(0, 7, latin1_safe(title), new_x="LMARGIN", new_y="NEXT")
    status = (
        "All fields complete."
        if form.complete
        else "Incomplete: fields marked MISSING must be filled before submission."
    )
    pdf.set_font("Helvetica", "I", 9)
    pdf.multi_cell(0, 5, status, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    pdf.set_font("Helvetica", "", 9)
    bold = FontFace(emphasis="BOLD")
    with pdf.table(
        col_widths=(52, 48),
        text_align=("LEFT", "LEFT"),
        line_height=4.2,
        padding=0.8,
        v_align="TOP",
    ) as table:
        heading = table.row()
        heading.cell("Field")
        heading.cell("Value")
        for field in form.fields:
            row = table.row()
            row.cell(latin1_safe(field.label))
            if field.missing:
                row.cell(MISSING_TEXT, style=bold)
            else:
                row.cell(latin1_safe(field.value))

    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.multi_cell(0, 6, "Warnings", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    if form.warnings:
        for warning in form.warnings:
            pdf.multi_cell(0, 5, latin1_safe(f"- {warning}"), new_x="LMARGIN", new_y="NEXT")
    else:
        pdf.multi_cell(0, 5, "None.", new_x="LMARGIN", new_y="NEXT")

    return bytes(pdf.output())
