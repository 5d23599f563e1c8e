"""Session monitoring alerts and discharge readiness (clinical-reference.md section 5).

Every number comes from the protocol file (`thresholds`, `monitoring`, `discharge`) with
its source; the reference calls all in-session thresholds clinic-configurable, and the
critical BP, heart-rate and SpO2 triggers **unverified** (one academic clinic's PRN
triggers, an example floor). `MonitoringThresholds.unverified` and
`DischargeCriteria.unverified` name the values whose source is not verified, so the UI can
label them.

Rules that the reference leaves open, decided here (ketaclinic defaults, unverified):

- Episodes. Each alert is raised once per episode. An episode of a kind starts with the
  first reading over its threshold and ends with the first later reading of the same
  measure that is back within it (BP below the level, heart rate at or below the limit,
  SpO2 at or above the floor, MOAA/S above the deep-sedation level). Only then can the
  same alert be raised again. A reading without that measure (e.g. SpO2 only) neither
  counts towards nor ends an episode.
- Critical BP confirmation. `critical_confirm_readings` readings (2) at or above the
  critical level, each at least `critical_repeat_minutes` (5) after the one before, all
  within `critical_confirm_window_minutes` of the first, in the same episode. The window
  is `CRITICAL_CONFIRM_WINDOW_FACTOR` (3) times the shortest confirming span: 15 minutes
  for two readings 5 minutes apart, so a recheck taken 5-15 minutes after a critical
  reading confirms it, while two critical readings further apart with nothing between
  them are treated as a new first reading waiting for its recheck.
- A severe BP (>= the single-reading level) alerts at once. Within a critical episode that
  already raised a severe alert, the critical-confirmed alert is not raised as well (the
  severe alert already calls for action); a severe reading after a critical-confirmed
  alert is raised (escalation). The severe alert re-arms when BP falls below the severe
  level.
- Late entry. Readings are sorted by time (ties by value) before they are evaluated, so
  the result does not depend on entry order; callers recompute over the whole session
  and match stored alerts by (kind, at).

Pure: no Django imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ketaclinic.protocols.schema import ESKETAMINE_MIN_OBSERVATION_MIN

__all__ = [
    "CRITICAL_CONFIRM_WINDOW_FACTOR",
    "DEFAULT_CRITICAL_CONFIRM_READINGS",
    "OBSERVATION_FROM",
    "AlertKind",
    "CriterionResult",
    "DischargeAssessment",
    "DischargeCriteria",
    "MonitoringAlert",
    "MonitoringThresholds",
    "RecheckPrompt",
    "SedationReading",
    "VitalReading",
    "assess_discharge",
    "bp_recheck_prompt",
    "discharge_criteria_from_protocol",
    "evaluate_readings",
    "next_reading_due",
    "overdue_alert",
    "predose_check",
    "thresholds_from_protocol",
]

# "two readings 5 min apart" (clinical-reference.md section 5, unverified PRN trigger); the
# protocol's `critical_bp_confirm_readings` overrides it.
DEFAULT_CRITICAL_CONFIRM_READINGS = 2
# ketaclinic default (no cited source): a confirming recheck counts up to three times the
# confirmation interval after the first critical reading (15 min for 5 min).
CRITICAL_CONFIRM_WINDOW_FACTOR = 3
KETACLINIC_DEFAULT_SOURCE = "ketaclinic default, not from a cited source (clinic-configurable)"
# Where the minimum observation time is counted from (protocol `discharge.observation_from`).
OBSERVATION_FROM: Mapping[str, str] = MappingProxyType(
    {
        "first_device": "the first device",
        "end_of_infusion": "the end of the infusion",
        "dosing_start": "the start of dosing",
    }
)
MOAAS_RANGE = (0, 5)
# Plausibility guards against typing errors, not clinical limits.
_VITAL_RANGES: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "systolic": (20, 350),
        "diastolic": (10, 250),
        "heart_rate": (0, 350),
        "spo2": (0, 100),
        "respiratory_rate": (0, 120),
    }
)
_NO_SOURCE = "source not recorded"


# --- readings --------------------------------------------------------------------------


def _require_aware(value: Any, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, not {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value


def _whole(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} must be a whole number from {low} to {high}, not {value!r}")
    return value


@dataclass(frozen=True)
class VitalReading:
    """One set of vital signs; a measure not taken is None. BP in mmHg, SpO2 in %."""

    at: datetime
    systolic: int | None = None
    diastolic: int | None = None
    heart_rate: int | None = None
    spo2: int | None = None
    respiratory_rate: int | None = None

    def __post_init__(self) -> None:
        _require_aware(self.at, "reading time")
        for name, (low, high) in _VITAL_RANGES.items():
            value = getattr(self, name)
            if value is not None:
                _whole(value, name.replace("_", " "), low, high)
        if (
            self.systolic is not None
            and self.diastolic is not None
            and self.diastolic >= self.systolic
        ):
            raise ValueError(
                f"diastolic {self.diastolic} must be below systolic {self.systolic} mmHg"
            )

    @property
    def has_bp(self) -> bool:
        return self.systolic is not None or self.diastolic is not None

    @property
    def bp_text(self) -> str:
        return f"{_num(self.systolic)}/{_num(self.diastolic)} mmHg"


@dataclass(frozen=True)
class SedationReading:
    """One MOAA/S score (0 = no response to painful stimulus ... 5 = alert)."""

    at: datetime
    moaas: int

    def __post_init__(self) -> None:
        _require_aware(self.at, "sedation reading time")
        _whole(self.moaas, "MOAA/S", *MOAAS_RANGE)


def _num(value: int | None) -> str:
    return "--" if value is None else str(value)


def _vital_key(reading: VitalReading) -> tuple[Any, ...]:
    # Total order (time, then every value) so that equal-time entries sort the same way
    # whatever order they were entered in.
    return (
        reading.at,
        *(-1 if v is None else v for v in (getattr(reading, n) for n in _VITAL_RANGES)),
    )


# --- thresholds ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MonitoringThresholds:
    """In-session alert thresholds (clinical-reference.md section 5, all clinic-configurable).

    BP limits in mmHg, heart rate in beats per minute, SpO2 in %, times in minutes.
    `sources` maps each field name to its source; `unverified` names the fields whose
    source is not verified. Build it with `thresholds_from_protocol`.
    """

    predose_caution_systolic: int
    predose_caution_diastolic: int
    critical_systolic: int
    critical_diastolic: int
    critical_repeat_minutes: int
    severe_systolic: int
    severe_diastolic: int
    heart_rate_high: int
    heart_rate_sustained_minutes: int
    spo2_floor: int
    deep_sedation_moaas: int
    vitals_interval_min: int
    critical_confirm_readings: int = DEFAULT_CRITICAL_CONFIRM_READINGS
    # None: CRITICAL_CONFIRM_WINDOW_FACTOR x repeat minutes x (readings - 1).
    critical_confirm_window_minutes: int | None = None
    # Pre-dose hold: at or above it, no dosing (None: the protocol sets no hold level).
    predose_hold_systolic: int | None = None
    predose_hold_diastolic: int | None = None
    # Interval once dosing has ended (recovery); None: vitals_interval_min throughout.
    recovery_interval_min: int | None = None
    sources: Mapping[str, str] = field(default_factory=dict, hash=False)
    unverified: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name, low, high in (
            ("predose_caution_systolic", 60, 300),
            ("predose_caution_diastolic", 30, 200),
            ("critical_systolic", 60, 300),
            ("critical_diastolic", 30, 200),
            ("critical_repeat_minutes", 0, 60),
            ("severe_systolic", 60, 300),
            ("severe_diastolic", 30, 200),
            ("heart_rate_high", 30, 300),
            ("heart_rate_sustained_minutes", 0, 60),
            ("spo2_floor", 50, 100),
            ("deep_sedation_moaas", *MOAAS_RANGE),
            ("vitals_interval_min", 1, 240),
            ("critical_confirm_readings", 1, 10),
        ):
            _whole(getattr(self, name), name, low, high)
        if (self.predose_hold_systolic is None) != (self.predose_hold_diastolic is None):
            raise ValueError("the pre-dose hold needs both systolic and diastolic")
        if self.predose_hold_systolic is not None and not (
            _whole(self.predose_hold_systolic, "predose_hold_systolic", 60, 300)
            >= self.predose_caution_systolic
            and _whole(self.predose_hold_diastolic, "predose_hold_diastolic", 30, 200)
            >= self.predose_caution_diastolic
        ):
            raise ValueError("the pre-dose hold must be at or above the pre-dose caution")
        if self.recovery_interval_min is not None:
            _whole(self.recovery_interval_min, "recovery_interval_min", 1, 240)
        if not (
            self.predose_caution_systolic < self.critical_systolic <= self.severe_systolic
            and self.predose_caution_diastolic < self.critical_diastolic <= self.severe_diastolic
        ):
            raise ValueError("BP levels must rise: pre-dose caution < critical <= severe")
        shortest_span = self.critical_repeat_minutes * (self.critical_confirm_readings - 1)
        window = self.critical_confirm_window_minutes
        if window is None:
            window = CRITICAL_CONFIRM_WINDOW_FACTOR * shortest_span
            object.__setattr__(self, "critical_confirm_window_minutes", window)
        _whole(window, "critical_confirm_window_minutes", shortest_span, 1440)
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        object.__setattr__(self, "unverified", frozenset(self.unverified))

    def source_of(self, *names: str) -> str:
        """Source text of the named fields, marked "(unverified)" if any of them is."""
        texts = list(dict.fromkeys(self.sources.get(name, _NO_SOURCE) for name in names))
        text = "; ".join(texts)
        if any(name in self.unverified or name not in self.sources for name in names):
            text += " (unverified)"
        return text


def _get(mapping: Mapping[str, Any], name: str, where: str) -> Any:
    if not isinstance(mapping, Mapping):
        raise ValueError(f"protocol field {where or '(file)'} must be an object")
    if name not in mapping:
        raise ValueError(f"protocol field {_path(where, name)} is missing")
    return mapping[name]


def _path(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _section(protocol: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    if not isinstance(protocol, Mapping) or name not in protocol:
        raise ValueError(f"protocol field {name} is missing")
    value = protocol[name]
    if not isinstance(value, Mapping):
        raise ValueError(f"protocol field {name} must be an object")
    return value


def _int_field(mapping: Mapping[str, Any], name: str, where: str) -> int:
    value = _get(mapping, name, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"protocol field {_path(where, name)} must be a whole number, not {value!r}"
        )
    return value


def _bool_field(mapping: Mapping[str, Any], name: str, where: str) -> bool:
    value = _get(mapping, name, where)
    if not isinstance(value, bool):
        raise ValueError(
            f"protocol field {_path(where, name)} must be true or false, not {value!r}"
        )
    return value


def _text_field(mapping: Mapping[str, Any], name: str, where: str) -> str:
    value = _get(mapping, name, where)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"protocol field {_path(where, name)} must be non-empty text")
    return value


def _bp_field(mapping: Mapping[str, Any], name: str, where: str) -> tuple[int, int]:
    value = _get(mapping, name, where)
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"protocol field {_path(where, name)} must be [systolic, diastolic]")
    return int(value[0]), int(value[1])


# Protocol threshold name -> MonitoringThresholds fields it fills.
_THRESHOLD_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "predose_caution_bp": ("predose_caution_systolic", "predose_caution_diastolic"),
        "critical_bp": ("critical_systolic", "critical_diastolic"),
        "critical_bp_confirm_readings": ("critical_confirm_readings",),
        "critical_bp_confirm_min": ("critical_repeat_minutes",),
        "critical_bp_single": ("severe_systolic", "severe_diastolic"),
        "critical_hr_bpm": ("heart_rate_high",),
        "critical_hr_sustained_min": ("heart_rate_sustained_minutes",),
        "spo2_floor_pct": ("spo2_floor",),
        "moaas_alert_at_or_below": ("deep_sedation_moaas",),
    }
)


def thresholds_from_protocol(protocol: Mapping[str, Any]) -> MonitoringThresholds:
    """Alert thresholds from a protocol (`ketaclinic.protocols.load_protocol(key)`).

    Reads `thresholds.predose_caution_bp`, `critical_bp`, `critical_bp_confirm_readings`,
    `critical_bp_confirm_min`, `critical_bp_single`, `critical_hr_bpm`,
    `critical_hr_sustained_min`, `spo2_floor_pct`, `moaas_alert_at_or_below` (and the
    optional `critical_bp_recheck_window_min`) with each one's
    `thresholds.provenance.<name>.source/verified`, and
    `monitoring.vitals_interval_min` with `monitoring.source/verified`.
    Source: clinical-reference.md section 5 (all clinic-configurable; pre-dose 140/90 is
    Spravato label wording; critical 180/110 twice 5 min apart, 200/120 once and HR > 120
    for 5 min are one academic clinic's PRN triggers, **unverified**; SpO2 92% is an
    example floor, **unverified**). The confirmation window is a ketaclinic default
    (`CRITICAL_CONFIRM_WINDOW_FACTOR`), always listed as unverified.

    Raises ValueError naming the missing or malformed field.
    """
    thresholds = _section(protocol, "thresholds")
    monitoring = _section(protocol, "monitoring")
    provenance = _get(thresholds, "provenance", "thresholds")
    if not isinstance(provenance, Mapping):
        raise ValueError("protocol field thresholds.provenance must be an object")
    values: dict[str, int] = {}
    sources: dict[str, str] = {}
    unverified: set[str] = set()
    for name, fields in _THRESHOLD_FIELDS.items():
        if len(fields) == 2:
            values.update(zip(fields, _bp_field(thresholds, name, "thresholds"), strict=True))
        else:
            values[fields[0]] = _int_field(thresholds, name, "thresholds")
        where = f"thresholds.provenance.{name}"
        entry = _get(provenance, name, "thresholds.provenance")
        source = _text_field(entry, "source", where)
        verified = _bool_field(entry, "verified", where)
        for field_name in fields:
            sources[field_name] = source
            if not verified:
                unverified.add(field_name)
    if "predose_hold_bp" in thresholds:
        hold = _bp_field(thresholds, "predose_hold_bp", "thresholds")
        values["predose_hold_systolic"], values["predose_hold_diastolic"] = hold
        entry = _get(provenance, "predose_hold_bp", "thresholds.provenance")
        where = "thresholds.provenance.predose_hold_bp"
        for field_name in ("predose_hold_systolic", "predose_hold_diastolic"):
            sources[field_name] = _text_field(entry, "source", where)
            if not _bool_field(entry, "verified", where):
                unverified.add(field_name)
    values["vitals_interval_min"] = _int_field(monitoring, "vitals_interval_min", "monitoring")
    interval_names = ["vitals_interval_min"]
    if "recovery_vitals_interval_min" in monitoring:
        values["recovery_interval_min"] = _int_field(
            monitoring, "recovery_vitals_interval_min", "monitoring"
        )
        interval_names.append("recovery_interval_min")
    for name in interval_names:
        sources[name] = _text_field(monitoring, "source", "monitoring")
        if not _bool_field(monitoring, "verified", "monitoring"):
            unverified.add(name)
    if "critical_bp_recheck_window_min" in thresholds:
        values["critical_confirm_window_minutes"] = _int_field(
            thresholds, "critical_bp_recheck_window_min", "thresholds"
        )
        entry = _get(provenance, "critical_bp_recheck_window_min", "thresholds.provenance")
        where = "thresholds.provenance.critical_bp_recheck_window_min"
        sources["critical_confirm_window_minutes"] = _text_field(entry, "source", where)
        if not _bool_field(entry, "verified", where):
            unverified.add("critical_confirm_window_minutes")
    else:
        sources["critical_confirm_window_minutes"] = (
            f"{KETACLINIC_DEFAULT_SOURCE}: {CRITICAL_CONFIRM_WINDOW_FACTOR} x the confirmation "
            "interval"
        )
        unverified.add("critical_confirm_window_minutes")
    try:
        return MonitoringThresholds(**values, sources=sources, unverified=frozenset(unverified))
    except ValueError as exc:
        raise ValueError(f"protocol thresholds: {exc}") from exc


# --- alerts ----------------------------------------------------------------------------


class AlertKind(StrEnum):
    PREDOSE_BP_CAUTION = "predose_bp_caution"
    PREDOSE_BP_HOLD = "predose_bp_hold"
    CRITICAL_BP_REPEATED = "critical_bp_repeated"
    SEVERE_BP = "severe_bp"
    TACHYCARDIA_SUSTAINED = "tachycardia_sustained"
    LOW_SPO2 = "low_spo2"
    DEEP_SEDATION = "deep_sedation"
    READING_OVERDUE = "reading_overdue"


_KIND_ORDER = {kind: position for position, kind in enumerate(AlertKind)}


@dataclass(frozen=True)
class MonitoringAlert:
    """An alert for staff: what, when (the reading that raised it), why, and on whose rule."""

    kind: AlertKind
    at: datetime
    message: str
    source: str


def _at_or_above(reading: VitalReading, systolic: int, diastolic: int) -> bool:
    return (reading.systolic is not None and reading.systolic >= systolic) or (
        reading.diastolic is not None and reading.diastolic >= diastolic
    )


def predose_check(reading: VitalReading, t: MonitoringThresholds) -> MonitoringAlert | None:
    """Pre-dose BP caution: systolic >= caution level or diastolic >= caution level.

    Source: clinical-reference.md section 5; the 140/90 wording follows the Spravato label
    (pre-dose BP above 140/90: weigh the rise against the benefit), clinic-configurable;
    some clinics refuse to treat above it. The alert asks for the prescriber's
    acknowledgement before dosing; it does not itself forbid dosing. Returns None when
    BP is below both levels. Raises ValueError when the reading lacks systolic or
    diastolic BP (a pre-dose BP is required before every esketamine dose, REMS).

    At or above the protocol's `predose_hold_bp` (a ketaclinic default equal to the
    in-session critical level, **unverified**; a clinic that refuses to treat above the
    caution level sets the two equal) the alert is PREDOSE_BP_HOLD: no dosing until a new
    reading is below it.
    """
    if reading.systolic is None or reading.diastolic is None:
        raise ValueError("the pre-dose check needs both systolic and diastolic BP")
    if t.predose_hold_systolic is not None and _at_or_above(
        reading, t.predose_hold_systolic, t.predose_hold_diastolic or 0
    ):
        return MonitoringAlert(
            kind=AlertKind.PREDOSE_BP_HOLD,
            at=reading.at,
            message=(
                f"Pre-dose BP {reading.bp_text} is at or above the hold level "
                f"{t.predose_hold_systolic}/{t.predose_hold_diastolic}: do not dose. "
                "Recheck after rest; dosing can start once a new reading is below it."
            ),
            source=t.source_of("predose_hold_systolic", "predose_hold_diastolic"),
        )
    if not _at_or_above(reading, t.predose_caution_systolic, t.predose_caution_diastolic):
        return None
    return MonitoringAlert(
        kind=AlertKind.PREDOSE_BP_CAUTION,
        at=reading.at,
        message=(
            f"Pre-dose BP {reading.bp_text} is at or above the caution level "
            f"{t.predose_caution_systolic}/{t.predose_caution_diastolic}: the prescriber must "
            "weigh the BP rise against the benefit and acknowledge before dosing."
        ),
        source=t.source_of("predose_caution_systolic", "predose_caution_diastolic"),
    )


def _confirming_chain(
    episode: Sequence[VitalReading], t: MonitoringThresholds
) -> list[VitalReading] | None:
    # Walk back from the newest critical reading, taking each reading at least the
    # confirmation interval before the last one taken (greedy: takes the most readings),
    # within the window.
    newest = episode[-1]
    window = timedelta(minutes=t.critical_confirm_window_minutes or 0)
    repeat = timedelta(minutes=t.critical_repeat_minutes)
    chain = [newest]
    for reading in reversed(episode[:-1]):
        if len(chain) >= t.critical_confirm_readings:
            break
        if newest.at - reading.at > window:
            break
        if chain[-1].at - reading.at >= repeat:
            chain.append(reading)
    return chain[::-1] if len(chain) >= t.critical_confirm_readings else None


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return str(int(minutes)) if minutes == int(minutes) else f"{minutes:.1f}"


def _bp_alerts(vitals: Sequence[VitalReading], t: MonitoringThresholds) -> list[MonitoringAlert]:
    alerts: list[MonitoringAlert] = []
    episode: list[VitalReading] = []
    critical_alerted = False
    severe_in_episode = False
    severe_armed = True
    for reading in vitals:
        if not reading.has_bp:
            continue
        severe = _at_or_above(reading, t.severe_systolic, t.severe_diastolic)
        if not severe:
            severe_armed = True
        if not _at_or_above(reading, t.critical_systolic, t.critical_diastolic):
            episode, critical_alerted, severe_in_episode = [], False, False
            continue
        episode.append(reading)
        if severe and severe_armed:
            severe_armed, severe_in_episode = False, True
            alerts.append(
                MonitoringAlert(
                    kind=AlertKind.SEVERE_BP,
                    at=reading.at,
                    message=(
                        f"BP {reading.bp_text} is at or above the severe level "
                        f"{t.severe_systolic}/{t.severe_diastolic} (one reading is enough)."
                    ),
                    source=t.source_of("severe_systolic", "severe_diastolic"),
                )
            )
            continue
        if critical_alerted or severe_in_episode:
            continue
        chain = _confirming_chain(episode, t)
        if chain is None:
            continue
        critical_alerted = True
        if len(chain) == 1:
            how = "(one reading is enough under this protocol)"
        else:
            how = (
                f"on {len(chain)} readings over {_minutes(chain[-1].at - chain[0].at)} min "
                f"(first {chain[0].bp_text})"
            )
        alerts.append(
            MonitoringAlert(
                kind=AlertKind.CRITICAL_BP_REPEATED,
                at=reading.at,
                message=(
                    f"BP {reading.bp_text} is at or above the critical level "
                    f"{t.critical_systolic}/{t.critical_diastolic} {how}."
                ),
                source=t.source_of(
                    "critical_systolic",
                    "critical_diastolic",
                    "critical_confirm_readings",
                    "critical_repeat_minutes",
                    "critical_confirm_window_minutes",
                ),
            )
        )
    return alerts


def _heart_rate_alerts(
    vitals: Sequence[VitalReading], t: MonitoringThresholds
) -> list[MonitoringAlert]:
    alerts: list[MonitoringAlert] = []
    episode: list[VitalReading] = []
    alerted = False
    sustained = timedelta(minutes=t.heart_rate_sustained_minutes)
    for reading in vitals:
        if reading.heart_rate is None:
            continue
        if reading.heart_rate <= t.heart_rate_high:
            episode, alerted = [], False
            continue
        episode.append(reading)
        span = reading.at - episode[0].at
        if alerted or span < sustained:
            continue
        alerted = True
        highest = max(r.heart_rate or 0 for r in episode)
        alerts.append(
            MonitoringAlert(
                kind=AlertKind.TACHYCARDIA_SUSTAINED,
                at=reading.at,
                message=(
                    f"Heart rate above {t.heart_rate_high} bpm for {_minutes(span)} min "
                    f"on {len(episode)} readings (now {reading.heart_rate}, "
                    f"highest {highest} bpm)."
                ),
                source=t.source_of("heart_rate_high", "heart_rate_sustained_minutes"),
            )
        )
    return alerts


def _spo2_alerts(vitals: Sequence[VitalReading], t: MonitoringThresholds) -> list[MonitoringAlert]:
    alerts: list[MonitoringAlert] = []
    armed = True
    for reading in vitals:
        if reading.spo2 is None:
            continue
        if reading.spo2 >= t.spo2_floor:
            armed = True
        elif armed:
            armed = False
            alerts.append(
                MonitoringAlert(
                    kind=AlertKind.LOW_SPO2,
                    at=reading.at,
                    message=f"SpO2 {reading.spo2}% is below the floor of {t.spo2_floor}%.",
                    source=t.source_of("spo2_floor"),
                )
            )
    return alerts


def _sedation_alerts(
    sedation: Sequence[SedationReading], t: MonitoringThresholds
) -> list[MonitoringAlert]:
    alerts: list[MonitoringAlert] = []
    armed = True
    for reading in sorted(sedation, key=lambda r: (r.at, r.moaas)):
        if reading.moaas > t.deep_sedation_moaas:
            armed = True
        elif armed:
            armed = False
            alerts.append(
                MonitoringAlert(
                    kind=AlertKind.DEEP_SEDATION,
                    at=reading.at,
                    message=(
                        f"MOAA/S {reading.moaas} is at or below the deep-sedation level "
                        f"{t.deep_sedation_moaas}."
                    ),
                    source=t.source_of("deep_sedation_moaas"),
                )
            )
    return alerts


def evaluate_readings(
    readings: Sequence[VitalReading],
    sedation: Sequence[SedationReading],
    t: MonitoringThresholds,
) -> list[MonitoringAlert]:
    """In-session alerts for all readings of one session, sorted by time (then kind).

    Source: clinical-reference.md section 5 (all clinic-configurable):
    - CRITICAL_BP_REPEATED: BP >= critical (180/110; systolic or diastolic) on
      `critical_confirm_readings` (2) readings at least `critical_repeat_minutes` (5) apart
      and within `critical_confirm_window_minutes` (15, ketaclinic default) of each other;
      **unverified** (one academic clinic's PRN triggers).
    - SEVERE_BP: BP >= severe (200/120) on one reading; **unverified** (same source).
    - TACHYCARDIA_SUSTAINED: heart rate > `heart_rate_high` (120) on every reading over a
      span of at least `heart_rate_sustained_minutes` (5), so at least two readings; a short
      spike does not alert; **unverified** (same source).
    - LOW_SPO2: SpO2 below the clinic floor (92%, an example, **unverified**); pulse
      oximetry at every esketamine session (Spravato REMS).
    - DEEP_SEDATION: MOAA/S <= `deep_sedation_moaas` (2).
    Readings are sorted by time first (late entry is fine). Each alert is raised once per
    episode: again only after the measure has returned within its limit (module docstring).
    READING_OVERDUE is not raised here: see `next_reading_due` / `overdue_alert`.
    """
    vitals = sorted(readings, key=_vital_key)
    alerts = [
        *_bp_alerts(vitals, t),
        *_heart_rate_alerts(vitals, t),
        *_spo2_alerts(vitals, t),
        *_sedation_alerts(sedation, t),
    ]
    return sorted(alerts, key=lambda a: (a.at, _KIND_ORDER[a.kind], a.message))


@dataclass(frozen=True)
class RecheckPrompt:
    """A BP reading at or above the critical level that no repeat reading has followed:
    the repeat is due from `due_from` to `due_by` (the protocol's recheck window)."""

    reading_at: datetime
    bp_text: str
    due_from: datetime
    due_by: datetime
    late: bool
    message: str
    source: str


def bp_recheck_prompt(
    readings: Sequence[VitalReading], t: MonitoringThresholds, now: datetime
) -> RecheckPrompt | None:
    """Ask for a repeat BP after a single reading at or above the critical level (the
    critical alert needs `critical_confirm_readings` readings, so one reading alone must
    prompt its recheck). Due from `critical_repeat_minutes` (5) to
    `critical_confirm_window_minutes` (protocol `critical_bp_recheck_window_min`, 15) after
    it: AHA, "wait about five minutes and measure again" (module docstring, thresholds'
    sources). None when the latest BP is below the critical level, or the pattern is
    already confirmed (the alert then calls for action), or a single reading suffices."""
    _require_aware(now, "now")
    if t.critical_confirm_readings < 2:
        return None
    with_bp = [r for r in sorted(readings, key=_vital_key) if r.has_bp]
    if not with_bp:
        return None
    latest = with_bp[-1]
    if not _at_or_above(latest, t.critical_systolic, t.critical_diastolic):
        return None
    if _at_or_above(latest, t.severe_systolic, t.severe_diastolic):
        return None  # the severe alert is raised at once
    episode = []
    for reading in reversed(with_bp):
        if not _at_or_above(reading, t.critical_systolic, t.critical_diastolic):
            break
        episode.insert(0, reading)
    if _confirming_chain(episode, t) is not None:
        return None
    due_from = latest.at + timedelta(minutes=t.critical_repeat_minutes)
    due_by = latest.at + timedelta(minutes=t.critical_confirm_window_minutes or 0)
    late = now > due_by
    return RecheckPrompt(
        reading_at=latest.at,
        bp_text=latest.bp_text,
        due_from=due_from,
        due_by=due_by,
        late=late,
        message=(
            f"BP {latest.bp_text} is at or above the critical level "
            f"{t.critical_systolic}/{t.critical_diastolic}: repeat the reading "
            f"{t.critical_repeat_minutes}-{t.critical_confirm_window_minutes} minutes after it"
            + (" (now overdue)." if late else ".")
        ),
        source=t.source_of("critical_repeat_minutes", "critical_confirm_window_minutes"),
    )


def next_reading_due(
    *,
    dosing_started_at: datetime | None,
    last_reading_at: datetime | None,
    now: datetime,
    t: MonitoringThresholds,
    dosing_ended_at: datetime | None = None,
) -> tuple[datetime | None, bool]:
    """When the next set of vitals is due, and whether it is overdue (now past that time).

    Due `vitals_interval_min` after the later of the start of dosing and the last reading
    (a pre-dose reading does not count: the first in-session reading is due one interval
    after dosing starts). Before dosing (no start, or a start still in the future)
    nothing is due: (None, False). No grace period: a reading is overdue the moment the
    due time has passed.
    Source: clinical-reference.md section 5 - IV sessions every 10-15 min during the
    infusion (ketamine clinic practice, **unverified**); esketamine BP at about 40 min
    after dosing (Spravato REMS). Protocol `monitoring.vitals_interval_min`. The caller
    stops asking once the patient is discharged. Once dosing has ended (at or before the
    anchor), the protocol's recovery interval applies when it sets one
    (`monitoring.recovery_vitals_interval_min`, IV: every 15 min in recovery).
    """
    _require_aware(now, "now")
    if dosing_started_at is None:
        return None, False
    _require_aware(dosing_started_at, "dosing start")
    if now < dosing_started_at:
        return None, False
    anchor = dosing_started_at
    if last_reading_at is not None:
        anchor = max(anchor, _require_aware(last_reading_at, "last reading time"))
    interval = t.vitals_interval_min
    if (
        dosing_ended_at is not None
        and t.recovery_interval_min is not None
        and _require_aware(dosing_ended_at, "dosing end") <= anchor
    ):
        interval = t.recovery_interval_min
    due = anchor + timedelta(minutes=interval)
    return due, now > due


def overdue_alert(
    *,
    dosing_started_at: datetime | None,
    last_reading_at: datetime | None,
    now: datetime,
    t: MonitoringThresholds,
    dosing_ended_at: datetime | None = None,
) -> MonitoringAlert | None:
    """A READING_OVERDUE alert when `next_reading_due` says the vitals are overdue, else None.

    The alert's time is the due time. Source: as `next_reading_due` (clinical-reference.md
    section 5; protocol `monitoring.vitals_interval_min`).
    """
    due, overdue = next_reading_due(
        dosing_started_at=dosing_started_at,
        last_reading_at=last_reading_at,
        now=now,
        t=t,
        dosing_ended_at=dosing_ended_at,
    )
    if due is None or not overdue:
        return None
    return MonitoringAlert(
        kind=AlertKind.READING_OVERDUE,
        at=due,
        message=(f"Vital signs are {_minutes(now - due)} min overdue."),
        source=t.source_of("vitals_interval_min"),
    )


# --- discharge -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DischargeCriteria:
    """What must hold before a patient leaves (clinical-reference.md section 5, configurable).

    minimum_observation_min: counted from `observation_from` (a key of OBSERVATION_FROM).
    vitals_margin_percent: latest systolic, diastolic and heart rate each within this
    percentage of baseline; None when the protocol does not compare with baseline.
    spo2_floor: latest SpO2 at or above it (from the protocol thresholds); None: not checked.
    require_symptoms_resolved: staff confirm sedation, dissociation and respiratory
    depression have resolved (Spravato REMS).
    """

    minimum_observation_min: int
    observation_from: str
    moaas_required: int
    vitals_margin_percent: int | None
    require_no_open_alert: bool
    require_escort: bool
    require_instructions: bool = False
    require_symptoms_resolved: bool = False
    spo2_floor: int | None = None
    sources: Mapping[str, str] = field(default_factory=dict, hash=False)
    unverified: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _whole(self.minimum_observation_min, "minimum_observation_min", 0, 1440)
        if self.observation_from not in OBSERVATION_FROM:
            raise ValueError(
                f"observation_from must be one of {', '.join(OBSERVATION_FROM)}, "
                f"not {self.observation_from!r}"
            )
        _whole(self.moaas_required, "moaas_required", *MOAAS_RANGE)
        if self.vitals_margin_percent is not None:
            _whole(self.vitals_margin_percent, "vitals_margin_percent", 0, 100)
        if self.spo2_floor is not None:
            _whole(self.spo2_floor, "spo2_floor", 50, 100)
        for name in (
            "require_no_open_alert",
            "require_escort",
            "require_instructions",
            "require_symptoms_resolved",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false")
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        object.__setattr__(self, "unverified", frozenset(self.unverified))


def discharge_criteria_from_protocol(protocol: Mapping[str, Any]) -> DischargeCriteria:
    """Discharge criteria from a protocol (`ketaclinic.protocols.load_protocol(key)`).

    Reads `discharge.minimum_observation_min`, `observation_from`, `moaas_required`,
    `vitals_near_baseline_required`, `vitals_baseline_margin_pct` (when near-baseline is
    required), `no_active_alert`, `escort_required`, `instructions_required`,
    `sedation_dissociation_respiratory_resolved` (required for esketamine, optional
    otherwise), `source`, `verified`; `route`; and `thresholds.spo2_floor_pct` with its
    provenance.
    Source: clinical-reference.md section 5 (discharge criteria, configurable: minimum
    observation time, MOAA/S 5, vitals within the clinic's range of baseline, no active
    alert, escort, instructions). Esketamine: at least 120 min from the first device and
    until sedation, dissociation and respiratory depression have resolved (Spravato REMS;
    enforced here). The reference gives no baseline margin, so `vitals_margin_percent` is
    always listed as unverified (the protocols' 20% is a ketaclinic default); IV minimum
    observation times have no cited source (**unverified** when the section is).

    Raises ValueError naming the missing or malformed field.
    """
    discharge = _section(protocol, "discharge")
    route = _text_field(protocol, "route", "")
    where = "discharge"
    minimum = _int_field(discharge, "minimum_observation_min", where)
    observation_from = _text_field(discharge, "observation_from", where)
    near_baseline = _bool_field(discharge, "vitals_near_baseline_required", where)
    margin = _int_field(discharge, "vitals_baseline_margin_pct", where) if near_baseline else None
    if route == "esketamine":
        symptoms = _bool_field(discharge, "sedation_dissociation_respiratory_resolved", where)
        if minimum < ESKETAMINE_MIN_OBSERVATION_MIN:
            raise ValueError(
                f"protocol field discharge.minimum_observation_min: {minimum} is below the "
                f"Spravato REMS minimum of {ESKETAMINE_MIN_OBSERVATION_MIN} min"
            )
        if observation_from != "first_device":
            raise ValueError(
                "protocol field discharge.observation_from: Spravato REMS counts the "
                "observation from the first device ('first_device')"
            )
        if not symptoms:
            raise ValueError(
                "protocol field discharge.sedation_dissociation_respiratory_resolved must be "
                "true for esketamine (Spravato REMS)"
            )
    else:
        symptoms = bool(discharge.get("sedation_dissociation_respiratory_resolved", False))
    source = _text_field(discharge, "source", where)
    verified = _bool_field(discharge, "verified", where)
    fields = (
        "minimum_observation_min",
        "observation_from",
        "moaas_required",
        "vitals_margin_percent",
        "require_no_open_alert",
        "require_escort",
        "require_instructions",
        "require_symptoms_resolved",
    )
    sources = dict.fromkeys(fields, source)
    unverified = set() if verified else set(fields)
    unverified.add("vitals_margin_percent")
    thresholds = _section(protocol, "thresholds")
    spo2_floor = _int_field(thresholds, "spo2_floor_pct", "thresholds")
    provenance = _get(thresholds, "provenance", "thresholds")
    entry = _get(provenance, "spo2_floor_pct", "thresholds.provenance")
    sources["spo2_floor"] = _text_field(entry, "source", "thresholds.provenance.spo2_floor_pct")
    if not _bool_field(entry, "verified", "thresholds.provenance.spo2_floor_pct"):
        unverified.add("spo2_floor")
    try:
        return DischargeCriteria(
            minimum_observation_min=minimum,
            observation_from=observation_from,
            moaas_required=_int_field(discharge, "moaas_required", where),
            vitals_margin_percent=margin,
            require_no_open_alert=_bool_field(discharge, "no_active_alert", where),
            require_escort=_bool_field(discharge, "escort_required", where),
            require_instructions=_bool_field(discharge, "instructions_required", where),
            require_symptoms_resolved=symptoms,
            spo2_floor=spo2_floor,
            sources=sources,
            unverified=frozenset(unverified),
        )
    except ValueError as exc:
        raise ValueError(f"protocol discharge: {exc}") from exc


@dataclass(frozen=True)
class CriterionResult:
    """One discharge criterion: its key, whether it is met, and why, in clinic language."""

    key: str
    met: bool
    explanation: str


@dataclass(frozen=True)
class DischargeAssessment:
    """ready is True exactly when every criterion is met; earliest_time is the end of the
    minimum observation (None while its start is not recorded)."""

    ready: bool
    criteria: tuple[CriterionResult, ...]
    earliest_time: datetime | None


def _observation(
    criteria: DischargeCriteria,
    now: datetime,
    start: datetime | None,
) -> tuple[CriterionResult, datetime | None]:
    since = OBSERVATION_FROM[criteria.observation_from]
    minimum = criteria.minimum_observation_min
    if start is None:
        return (
            CriterionResult(
                "observation_time", False, f"Time of {since} not recorded; observation not started."
            ),
            None,
        )
    earliest = start + timedelta(minutes=minimum)
    observed = _minutes(max(now - start, timedelta(0)))
    if now >= earliest:
        text = f"Observed {observed} min since {since} (minimum {minimum} min)."
        return CriterionResult("observation_time", True, text), earliest
    left = _minutes(earliest - now)
    text = f"Observed {observed} of the minimum {minimum} min since {since}; {left} min to go."
    return CriterionResult("observation_time", False, text), earliest


def _vitals(
    criteria: DischargeCriteria,
    observation_start: datetime | None,
    baseline: VitalReading | None,
    latest: VitalReading | None,
) -> CriterionResult:
    key = "vitals_near_baseline"
    margin = criteria.vitals_margin_percent
    if latest is None:
        return CriterionResult(key, False, "No vital signs recorded after dosing.")
    problems: list[str] = []
    if margin is not None:
        if baseline is None:
            return CriterionResult(key, False, "No baseline (pre-dose) vital signs recorded.")
        if latest.at <= baseline.at:
            return CriterionResult(
                key, False, "The latest vital signs are the baseline: take a new set."
            )
        if observation_start is not None and latest.at < observation_start:
            return CriterionResult(
                key, False, "The latest vital signs predate the observation: take a new set."
            )
        for label, unit, name in (
            ("systolic BP", "mmHg", "systolic"),
            ("diastolic BP", "mmHg", "diastolic"),
            ("heart rate", "bpm", "heart_rate"),
        ):
            now_value, base_value = getattr(latest, name), getattr(baseline, name)
            if now_value is None or base_value is None:
                which = "latest" if now_value is None else "baseline"
                problems.append(f"{label} missing from the {which} reading")
            elif abs(now_value - base_value) * 100 > base_value * margin:
                problems.append(
                    f"{label} {now_value} {unit} is more than {margin}% from baseline "
                    f"{base_value} {unit}"
                )
    if criteria.spo2_floor is not None:
        if latest.spo2 is None:
            problems.append("SpO2 missing from the latest reading")
        elif latest.spo2 < criteria.spo2_floor:
            problems.append(f"SpO2 {latest.spo2}% is below the floor of {criteria.spo2_floor}%")
    if problems:
        text = "; ".join(problems)
        return CriterionResult(key, False, text[0].upper() + text[1:] + ".")
    parts = []
    if margin is not None and baseline is not None:
        parts.append(
            f"BP {latest.bp_text} and heart rate {latest.heart_rate} bpm within {margin}% of "
            f"baseline {baseline.bp_text}, {baseline.heart_rate} bpm"
        )
    if criteria.spo2_floor is not None:
        parts.append(f"SpO2 {latest.spo2}% at or above {criteria.spo2_floor}%")
    return CriterionResult(key, True, ("; ".join(parts) or "Vital signs recorded") + ".")


def assess_discharge(
    *,
    criteria: DischargeCriteria,
    now: datetime,
    observation_start: datetime | None,
    latest_moaas: int | None,
    baseline: VitalReading | None,
    latest: VitalReading | None,
    open_alerts: int,
    escort_confirmed: bool,
    instructions_given: bool = False,
    symptoms_resolved: bool = False,
) -> DischargeAssessment:
    """Is the patient ready to leave? Each criterion with a reason; ready iff all are met.

    Source: clinical-reference.md section 5 (configurable discharge criteria: minimum
    observation time, MOAA/S 5, vitals within the clinic's range of baseline, no active
    alert, escort or ride confirmed, instructions given). Esketamine: at least 120 min from
    the first device and until sedation, dissociation and respiratory depression have
    resolved (Spravato REMS). The baseline margin (protocol default 20%) has no cited
    source: **unverified**. Criteria checked, in order: observation_time (now >=
    observation_start + minimum), moaas (latest == required), vitals_near_baseline
    (latest reading after baseline and after the observation start; systolic, diastolic
    and heart rate each within the margin of baseline; SpO2 at or above the floor),
    and when the protocol asks: symptoms_resolved, no_open_alert, escort, instructions.
    `instructions_given` and `symptoms_resolved` default to False (not confirmed), so a
    protocol that requires them is never met silently. Staff may override a failed
    assessment only with a reason and a signature (recorded by the caller).
    """
    _require_aware(now, "now")
    if observation_start is not None:
        _require_aware(observation_start, "observation start")
    _whole(open_alerts, "open_alerts", 0, 10_000)
    if latest_moaas is not None:
        _whole(latest_moaas, "latest MOAA/S", *MOAAS_RANGE)
    observation, earliest = _observation(criteria, now, observation_start)
    results = [observation]
    required = criteria.moaas_required
    if latest_moaas is None:
        results.append(CriterionResult("moaas", False, "No MOAA/S recorded."))
    else:
        results.append(
            CriterionResult(
                "moaas",
                latest_moaas == required,
                f"Latest MOAA/S {latest_moaas} (required {required}).",
            )
        )
    results.append(_vitals(criteria, observation_start, baseline, latest))
    if criteria.require_symptoms_resolved:
        results.append(
            CriterionResult(
                "symptoms_resolved",
                bool(symptoms_resolved),
                "Sedation, dissociation and respiratory depression "
                + ("confirmed resolved." if symptoms_resolved else "not confirmed resolved."),
            )
        )
    if criteria.require_no_open_alert:
        results.append(
            CriterionResult(
                "no_open_alert",
                open_alerts == 0,
                "No open alert."
                if open_alerts == 0
                else f"{open_alerts} open alert(s) must be resolved first.",
            )
        )
    if criteria.require_escort:
        results.append(
            CriterionResult(
                "escort",
                bool(escort_confirmed),
                "Escort or ride confirmed." if escort_confirmed else "No escort or ride confirmed.",
            )
        )
    if criteria.require_instructions:
        results.append(
            CriterionResult(
                "instructions",
                bool(instructions_given),
                "Discharge instructions given."
                if instructions_given
                else "Discharge instructions not yet given.",
            )
        )
    return DischargeAssessment(
        ready=all(result.met for result in results),
        criteria=tuple(results),
        earliest_time=earliest,
    )
