"""Anchors: the audit chain's head written down outside the database.

The hash chain shows that stored entries were changed, removed or reordered, but someone
with administrator rights on the database could rewrite every entry from some point on,
recompute all the hashes and the chain head, and the chain alone would look intact. An
anchor is the head (last sequence number and last hash) at one moment, kept where the
database's administrators cannot change it: a file on the app server
(KETACLINIC_AUDIT_ANCHOR_FILE, written by `ketaclinic audit anchor` and by every backup),
each backup's manifest, a printout or an email. `ketaclinic audit verify` checks that the
entry at each anchored sequence number still has the anchored hash: a chain rewritten after
an anchor was saved no longer matches it (docs/audit.md).

An anchor file holds one JSON object a line:
    {"sequence": 1204, "hash": "9f…", "at": "2026-12-03T02:00:00+00:00", "source": "…"}
A restore adds a line with "kind": "restore": the log was deliberately put back to that
head, so anchors saved before it beyond that point describe history the restore undid.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.audit.selectors import audit_chain_head

HASH = re.compile(r"^[0-9a-f]{64}$")
RESTORE = "restore"


class AnchorFileError(Exception):
    """An anchor file or manifest that cannot be read (one line for the user)."""


@dataclass(frozen=True)
class Anchor:
    sequence: int
    hash: str
    at: str
    source: str
    kind: str = "anchor"

    def describe(self) -> str:
        return f"the anchor saved at {self.at} ({self.source})"


@dataclass(frozen=True)
class AnchorReport:
    ok: bool
    checked: int
    problem: str = ""
    latest: Anchor | None = None


def anchor_file() -> Path | None:
    """The configured anchor file, or None when anchoring to a file is turned off."""
    value = str(getattr(settings, "KETACLINIC_AUDIT_ANCHOR_FILE", "") or "").strip()
    return Path(value) if value else None


def anchor_current(*, source: str, kind: str = "anchor") -> Anchor:
    """The chain head as it is now, as an anchor (not yet saved anywhere)."""
    sequence, last_hash = audit_chain_head()
    return Anchor(
        sequence=sequence,
        hash=last_hash,
        at=timezone.now().astimezone(UTC).isoformat(timespec="seconds"),
        source=source,
        kind=kind,
    )


def anchor_save(anchor: Anchor, path: Path | None = None) -> Path | None:
    """Append the anchor to the anchor file (created with owner-only rights) and flush it to
    disk. Returns the file, or None when anchoring to a file is turned off."""
    path = path or anchor_file()
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(anchor), sort_keys=True) + "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line.encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return path


def _anchor(data: object, where: str) -> Anchor:
    if not isinstance(data, dict):
        raise AnchorFileError(f"{where}: not an anchor")
    sequence, last_hash = data.get("sequence"), data.get("hash")
    if not isinstance(sequence, int) or sequence < 0 or not HASH.match(str(last_hash)):
        raise AnchorFileError(f"{where}: an anchor needs a sequence number and a SHA-256 hash")
    return Anchor(
        sequence=sequence,
        hash=str(last_hash),
        at=str(data.get("at", "")),
        source=str(data.get("source", "")),
        kind=str(data.get("kind", "anchor")),
    )


def anchors_read(path: Path) -> list[Anchor]:
    """The anchors in an anchor file (JSON lines) or in a backup manifest (a JSON object
    with its "audit_chain_head")."""
    try:
        text = path.read_text()
    except OSError as error:
        raise AnchorFileError(f"cannot read {path} ({error.strerror or error})") from error
    except UnicodeDecodeError as error:
        raise AnchorFileError(f"{path} is not an anchor file or a backup manifest") from error
    stripped = text.strip()
    if not stripped:
        return []
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict) and "audit_chain_head" in whole:
        head = whole["audit_chain_head"]
        if isinstance(head, dict):
            head = {
                "source": f"backup manifest {path.name}",
                "at": whole.get("created_at", ""),
                **head,
            }
        return [_anchor(head, str(path))]
    anchors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise AnchorFileError(f"{path}, line {number}: not JSON ({error.msg})") from error
        anchors.append(_anchor(data, f"{path}, line {number}"))
    return anchors


def anchors_effective(anchors: Iterable[Anchor]) -> list[Anchor]:
    """The anchors the log must still match, in order: a restore undoes what anchors saved
    before it recorded beyond the restored head."""
    kept: list[Anchor] = []
    for anchor in anchors:
        if anchor.kind == RESTORE:
            kept = [earlier for earlier in kept if earlier.sequence <= anchor.sequence]
        kept.append(anchor)
    return kept


def audit_check_anchors(anchors: Iterable[Anchor]) -> AnchorReport:
    """Check that the entry at each anchored sequence number has the anchored hash.

    A mismatch means the chain was rewritten after the anchor was saved (the hashes are
    recomputed consistently, so the chain alone looks intact). An anchored number beyond the
    chain's end means entries were removed from the end and the head rewritten."""
    anchors = anchors_effective(anchors)
    if not anchors:
        return AnchorReport(True, 0)
    last_sequence, _last_hash = audit_chain_head()
    wanted = sorted({a.sequence for a in anchors if 0 < a.sequence <= last_sequence})
    stored: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        stored.update(
            AuditEntry.objects.filter(sequence__in=chunk).values_list("sequence", "entry_hash")
        )
    for anchor in anchors:
        if anchor.sequence == 0:
            continue
        if anchor.sequence > last_sequence:
            return AnchorReport(
                False,
                0,
                f"{anchor.describe()} records entry #{anchor.sequence}, but the chain ends at "
                f"#{last_sequence}: entries were removed and the chain head rewritten",
                anchor,
            )
        if stored.get(anchor.sequence) != anchor.hash:
            return AnchorReport(
                False,
                0,
                f"entry #{anchor.sequence} does not match {anchor.describe()}: the log was "
                "rewritten after that anchor was saved",
                anchor,
            )
    return AnchorReport(True, len(anchors), latest=max(anchors, key=lambda a: a.sequence))
