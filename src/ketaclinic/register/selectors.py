"""Reads of the controlled-substance register for the dashboard, the inspector's overview and
the reports (clinical-reference.md section 7, 21 CFR 1304).

Every function here runs a constant number of queries whatever the number of containers or
ledger entries: related rows come with select_related, sums with aggregate/annotate and
per-row figures (what is left of a draw, which entry reversed another) with subqueries.
The CSV row builders at the end only format rows already loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.db.models import (
    Count,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from ketaclinic.register.models import (
    ML,
    UNACCOUNTED_NOISE_ML,
    Container,
    CountLine,
    EntryKind,
    InventoryCount,
    LedgerChainHead,
    LedgerEntry,
    LedgerVerification,
    LossReport,
    OpenDraw,
    Product,
)

if TYPE_CHECKING:
    from ketaclinic.organization.models import Location

ZERO = Decimal("0")
MILLI = Decimal("0.001")
# Half the smallest amount the register stores: differences below it are rounding noise
# from databases (SQLite) that add decimals as floating point.
BIENNIAL_YEARS = 2
EXPIRY_DAYS_DEFAULT = 90

# The entries of the dispensing record (21 CFR 1304.22(c)): every change of hands of the
# substance, draws included, and the corrections that undo any of them.
DISPENSING_KINDS = (
    EntryKind.RECEIVE,
    EntryKind.DRAW,
    EntryKind.ADMINISTER,
    EntryKind.WASTE,
    EntryKind.RETURN,
    EntryKind.TRANSFER_OUT,
    EntryKind.TRANSFER_IN,
    EntryKind.DESTROY,
    EntryKind.LOSS,
    EntryKind.CORRECTION,
)


def _decimal_field() -> DecimalField:
    return DecimalField(**ML)


def _milli(value: Decimal | None) -> Decimal:
    return (value or ZERO).quantize(MILLI)


# --- dates ------------------------------------------------------------------------------


def local_today(location: Location) -> date:
    return timezone.localdate(timezone.now(), timezone=location.tz)


def day_bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """From the start of `start` to the start of the day after `end`, in the location's
    time zone."""
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- stock ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductBalance:
    product_id: int
    name: str
    ndc: str
    form: str
    strength_mg_per_ml: Decimal
    containers: int
    sealed: int
    opened: int
    total_ml: Decimal

    @property
    def total_mg(self) -> Decimal:
        return (self.total_ml * self.strength_mg_per_ml).quantize(MILLI)


def stock_balances(location: Location) -> list[ProductBalance]:
    """Per product: containers holding any volume at the location, and their total (1 query).

    Stock is whatever still holds volume, whatever its status says."""
    forms = dict(Product.Form.choices)
    rows = (
        Container.objects.filter(location=location, remaining_ml__gt=0)
        .values(
            "product_id",
            "product__name",
            "product__ndc",
            "product__form",
            "product__strength_mg_per_ml",
        )
        .annotate(
            containers=Count("id"),
            sealed=Count("id", filter=Q(status=Container.Status.SEALED)),
            opened=Count("id", filter=~Q(status=Container.Status.SEALED)),
            total_ml=Sum("remaining_ml"),
        )
        .order_by("product__name", "product_id")
    )
    return [
        ProductBalance(
            product_id=row["product_id"],
            name=row["product__name"],
            ndc=row["product__ndc"],
            form=forms.get(row["product__form"], row["product__form"]),
            strength_mg_per_ml=row["product__strength_mg_per_ml"],
            containers=row["containers"],
            sealed=row["sealed"],
            opened=row["opened"],
            total_ml=_milli(row["total_ml"]),
        )
        for row in rows
    ]


def stock_containers(location: Location) -> QuerySet[Container]:
    """Containers holding volume, open ones first (the ones in use), then sealed."""
    return (
        Container.objects.filter(location=location, remaining_ml__gt=0)
        .select_related("product", "safe")
        .order_by("-opened_on", "product__name", "expires_on", "label")
    )


def inventory(location: Location, *, in_stock_only: bool = False) -> QuerySet[Container]:
    """The perpetual inventory: every container at the location by product, lot and label."""
    containers = Container.objects.filter(location=location)
    if in_stock_only:
        containers = containers.filter(remaining_ml__gt=0)
    return containers.select_related("product", "safe", "location").order_by(
        "product__name", "lot_number", "expires_on", "label"
    )


def biennial_worksheet(location: Location) -> QuerySet[Container]:
    """Every container with volume left, grouped by safe for counting. The worksheet leaves
    the register's balance off so the count is made blind, then compared when recorded."""
    return (
        Container.objects.filter(location=location, remaining_ml__gt=0)
        .select_related("product", "safe", "location")
        .order_by(F("safe__name").asc(nulls_last=True), "product__name", "lot_number", "label")
    )


def expiring_lots(location: Location, *, days: int, today: date) -> list[dict[str, Any]]:
    """Lots with volume left that expire within `days` (already expired ones included)."""
    rows = (
        Container.objects.filter(
            location=location, remaining_ml__gt=0, expires_on__lte=today + timedelta(days=days)
        )
        .values(
            "product__name",
            "product__ndc",
            "product__strength_mg_per_ml",
            "lot_number",
            "expires_on",
        )
        .annotate(containers=Count("id"), total_ml=Sum("remaining_ml"))
        .order_by("expires_on", "product__name", "lot_number")
    )
    lots = []
    for row in rows:
        total_ml = _milli(row["total_ml"])
        lots.append(
            {
                "product": row["product__name"],
                "ndc": row["product__ndc"],
                "lot_number": row["lot_number"],
                "expires_on": row["expires_on"],
                "containers": row["containers"],
                "total_ml": total_ml,
                "total_mg": (total_ml * row["product__strength_mg_per_ml"]).quantize(MILLI),
                "expired": row["expires_on"] < today,
                "days_left": (row["expires_on"] - today).days,
            }
        )
    return lots


# --- counts, discrepancies, losses ------------------------------------------------------


def discrepancy_lines(location: Location) -> QuerySet[CountLine]:
    """Count lines at the location where the count differed from the register."""
    return (
        CountLine.objects.filter(count__location=location)
        .exclude(counted_ml=F("expected_ml"))
        .select_related(
            "count", "count__counted_by", "count__witness", "container__product", "resolved_by"
        )
        .order_by("-count__counted_at", "container__label")
    )


def open_discrepancies(location: Location) -> QuerySet[CountLine]:
    return discrepancy_lines(location).filter(resolved_at__isnull=True)


def discrepancies_between(
    location: Location, start: datetime, end: datetime
) -> QuerySet[CountLine]:
    return discrepancy_lines(location).filter(
        count__counted_at__gte=start, count__counted_at__lt=end
    )


@dataclass(frozen=True)
class CountStatus:
    last_count: InventoryCount | None
    last_biennial: InventoryCount | None
    biennial_due_on: date | None  # None: no biennial inventory yet, so one is due now
    biennial_due: bool


def count_status(location: Location, today: date) -> CountStatus:
    """The last count and whether the biennial inventory (21 CFR 1304.11) is due (2 queries)."""
    counts = InventoryCount.objects.filter(location=location).select_related(
        "counted_by", "witness"
    )
    last = counts.order_by("-counted_at", "-pk").first()
    biennial = (
        counts.filter(kind=InventoryCount.Kind.BIENNIAL).order_by("-counted_at", "-pk").first()
    )
    if biennial is None:
        return CountStatus(last, None, None, True)
    due_on = add_years(timezone.localtime(biennial.counted_at, location.tz).date(), BIENNIAL_YEARS)
    return CountStatus(last, biennial, due_on, today >= due_on)


@dataclass(frozen=True)
class LossStatus:
    report: LossReport
    notice_overdue: bool
    form_106_overdue: bool


def open_loss_reports(location: Location, today: date) -> list[LossStatus]:
    """Loss reports whose DEA notice or Form 106 is still outstanding (1 query)."""
    reports = (
        LossReport.objects.filter(location=location)
        .filter(Q(notice_sent_on__isnull=True) | Q(form_106_filed_on__isnull=True))
        .select_related("reported_by")
        .order_by("form_106_due_on", "pk")
    )
    return [
        LossStatus(
            report=r,
            notice_overdue=r.notice_sent_on is None and today > r.notice_due_on,
            form_106_overdue=r.form_106_filed_on is None and today > r.form_106_due_on,
        )
        for r in reports
    ]


# --- ledger -----------------------------------------------------------------------------


def _reversed_by(field: str) -> Subquery:
    # Ordered by sequence alone: the model's default ordering starts with the location, which
    # joins organization_location and made SQLite scan the whole ledger for every row shown
    # instead of looking the correction up by reverses_id.
    return Subquery(
        LedgerEntry.objects.filter(reverses=OuterRef("pk")).order_by("sequence").values(field)[:1]
    )


def with_reversal(entries: QuerySet[LedgerEntry]) -> QuerySet[LedgerEntry]:
    """Annotate the sequence of the correction that reversed each entry, if any."""
    return entries.annotate(reversed_by_sequence=_reversed_by("sequence"))


def unaccounted_draws(location: Location) -> QuerySet[LedgerEntry]:
    """Draws with volume not yet administered, wasted or returned (as draw_unaccounted_ml
    counts it). Only the draws the database keeps as open are read (models.OpenDraw), so
    the query does not grow with the draws of the past; their open volume is still worked
    out here from the ledger."""
    accounted = (
        LedgerEntry.objects.filter(draw=OuterRef("pk"), reversed_by__isnull=True)
        .exclude(kind=EntryKind.CORRECTION)
        .order_by()
        .values("draw")
        .annotate(total=Sum("amount_ml"))
        .values("total")
    )
    return (
        LedgerEntry.objects.filter(
            location=location,
            kind=EntryKind.DRAW,
            reversed_by__isnull=True,
            pk__in=OpenDraw.objects.filter(location_id=location.pk).values("draw_id"),
        )
        .annotate(
            accounted_ml=Coalesce(
                Subquery(accounted, output_field=_decimal_field()),
                Value(ZERO),
                output_field=_decimal_field(),
            )
        )
        .annotate(unaccounted_ml=F("amount_ml") - F("accounted_ml"))
        .filter(unaccounted_ml__gt=UNACCOUNTED_NOISE_ML)
        .select_related("container__product", "patient", "session")
        .order_by("occurred_at", "sequence")
    )


def dispensing_record(location: Location, start: datetime, end: datetime) -> QuerySet[LedgerEntry]:
    """The administration and dispensing record for a period: receipts with the supplier,
    every draw, administration (patient, amount, who gave it), waste, return, transfer,
    destruction and loss, in the order they happened."""
    return with_reversal(
        LedgerEntry.objects.filter(
            location=location,
            kind__in=DISPENSING_KINDS,
            occurred_at__gte=start,
            occurred_at__lt=end,
        )
        .select_related(
            "location",
            "container__product",
            "container__receipt__supplier",
            "patient",
            "witness",
            "second_witness",
            "reverses",
        )
        .order_by("occurred_at", "sequence")
    )


def waste_log(location: Location, start: datetime, end: datetime) -> QuerySet[LedgerEntry]:
    """Witnessed waste of drawn doses, with who drew the dose."""
    return with_reversal(
        LedgerEntry.objects.filter(
            location=location,
            kind=EntryKind.WASTE,
            occurred_at__gte=start,
            occurred_at__lt=end,
        )
        .select_related("location", "container__product", "patient", "witness", "draw")
        .order_by("occurred_at", "sequence")
    )


def ledger_entries(
    location: Location, *, container: str = "", kind: str = "", sequence: int | None = None
) -> QuerySet[LedgerEntry]:
    """The register itself, newest first."""
    entries = LedgerEntry.objects.filter(location=location)
    if container:
        entries = entries.filter(container__label__icontains=container)
    if kind:
        entries = entries.filter(kind=kind)
    if sequence is not None:
        entries = entries.filter(sequence=sequence)
    return with_reversal(
        entries.select_related("container__product", "witness", "second_witness", "reverses")
    ).order_by("-sequence")


def chain_head(location: Location) -> LedgerChainHead | None:
    return LedgerChainHead.objects.filter(location=location).first()


def last_verification() -> LedgerVerification | None:
    """The last full walk of the chains recorded by `ketaclinic ledger verify` (1 query)."""
    return LedgerVerification.objects.order_by("-finished_at", "-pk").first()


class SequencePages:
    """A location's whole register, newest first, for the Paginator without COUNT or OFFSET:
    the chain is numbered 1..last without gaps (`ledger verify` proves it), so the head gives
    the count and a page is a range of sequences read through the (location, sequence) index.
    Time and queries stay the same on page 1 and page 10,000, at any size of register."""

    def __init__(self, entries: QuerySet[LedgerEntry], last_sequence: int) -> None:
        self.entries = entries
        self.last = last_sequence

    def count(self) -> int:
        return self.last

    def __len__(self) -> int:
        return self.last

    def __getitem__(self, index: slice) -> list[LedgerEntry]:
        if not isinstance(index, slice):
            raise TypeError("SequencePages is read by slices")
        start, stop = index.start or 0, index.stop if index.stop is not None else self.last
        top, bottom = self.last - start, self.last - stop + 1
        return list(self.entries.filter(sequence__lte=top, sequence__gte=max(bottom, 1)))


def patient_ids(entries: Iterable[LedgerEntry]) -> list[int]:
    return sorted({e.patient_id for e in entries if e.patient_id})


def patient_ids_of(entries: QuerySet[LedgerEntry]) -> list[int]:
    """The patients a whole (unpaginated) report names, in one query."""
    return sorted(
        entries.order_by()
        .filter(patient__isnull=False)
        .values_list("patient_id", flat=True)
        .distinct()
    )


# --- CSV rows (formatting only: no queries) ---------------------------------------------


def _when(value: datetime | None, tz: ZoneInfo) -> str:
    return timezone.localtime(value, tz).strftime("%Y-%m-%d %H:%M") if value else ""


def _name(user: Any) -> str:
    return user.display_name if user is not None else ""


def reversal_text(entry: LedgerEntry) -> str:
    parts = []
    if entry.reverses_id:
        parts.append(f"reverses #{entry.reverses.sequence}")
    sequence = getattr(entry, "reversed_by_sequence", None)
    if sequence:
        parts.append(f"reversed by #{sequence}")
    return "; ".join(parts)


def receipt_fields(entry: LedgerEntry) -> dict[str, str]:
    """Supplier and invoice of a receipt, as recorded on the entry when it was written
    (falling back to the receipt itself)."""
    if entry.kind != EntryKind.RECEIVE:
        return {"name": "", "address": "", "dea": "", "invoice": ""}
    detail = entry.detail or {}
    receipt = entry.container.receipt
    supplier = receipt.supplier
    return {
        "name": detail.get("supplier") or supplier.name,
        "address": detail.get("supplier_address") or supplier.address,
        "dea": detail.get("supplier_dea") or supplier.dea_number,
        "invoice": detail.get("invoice") or receipt.invoice_number,
    }


def transfer_party(entry: LedgerEntry) -> str:
    detail = entry.detail or {}
    if entry.kind == EntryKind.TRANSFER_OUT:
        return f"to {detail.get('to', '')}".strip()
    if entry.kind == EntryKind.TRANSFER_IN:
        return f"from {detail.get('from', '')}".strip()
    return ""


def manner(entry: LedgerEntry) -> str:
    """How stock left other than by administration (waste, destruction, loss)."""
    detail = entry.detail or {}
    text = entry.reason
    if entry.kind == EntryKind.DESTROY and detail.get("reverse_distributor"):
        text = f"{text} (reverse distributor: {detail['reverse_distributor']})"
    return text


DISPENSING_HEADER = [
    "Date/time",
    "Time zone",
    "Sequence",
    "Kind",
    "Substance",
    "NDC",
    "Form",
    "Strength (mg/mL)",
    "Volume per container (mL)",
    "Container",
    "Lot",
    "Quantity (mL)",
    "Quantity (mg)",
    "Container balance after (mL)",
    "Supplier name",
    "Supplier address",
    "Supplier DEA number",
    "Invoice number",
    "Transferred to/from",
    "Patient name",
    "Patient MRN",
    "Administered by",
    "Manner or reason",
    "Witness",
    "Second witness",
    "Recorded by",
    "Correction",
    "Hash prefix",
]


def dispensing_rows(entries: Iterable[LedgerEntry], tz: ZoneInfo) -> Iterator[list[Any]]:
    for e in entries:
        product = e.container.product
        supplier = receipt_fields(e)
        yield [
            _when(e.occurred_at, tz),
            str(tz),
            e.sequence,
            e.get_kind_display(),
            product.name,
            product.ndc,
            product.get_form_display(),
            product.strength_mg_per_ml,
            product.container_volume_ml,
            e.container.label,
            e.container.lot_number,
            e.amount_ml,
            e.amount_mg,
            e.balance_after_ml,
            supplier["name"],
            supplier["address"],
            supplier["dea"],
            supplier["invoice"],
            transfer_party(e),
            e.patient.display_name if e.patient_id else "",
            e.patient.mrn if e.patient_id else "",
            e.actor_name if e.kind == EntryKind.ADMINISTER else "",
            manner(e),
            _name(e.witness),
            _name(e.second_witness),
            e.actor_name,
            reversal_text(e),
            e.entry_hash[:12],
        ]


WASTE_HEADER = [
    "Date/time",
    "Time zone",
    "Sequence",
    "Patient name",
    "Patient MRN",
    "Container",
    "Substance",
    "Lot",
    "Quantity (mL)",
    "Quantity (mg)",
    "Drawn by",
    "Wasted by",
    "Witness",
    "Reason",
    "Correction",
]


def waste_rows(entries: Iterable[LedgerEntry], tz: ZoneInfo) -> Iterator[list[Any]]:
    for e in entries:
        yield [
            _when(e.occurred_at, tz),
            str(tz),
            e.sequence,
            e.patient.display_name if e.patient_id else "",
            e.patient.mrn if e.patient_id else "",
            e.container.label,
            e.container.product.name,
            e.container.lot_number,
            e.amount_ml,
            e.amount_mg,
            e.draw.actor_name if e.draw_id else "",
            e.actor_name,
            _name(e.witness),
            e.reason,
            reversal_text(e),
        ]


# The columns that describe one container, shared by the inventory and biennial reports.
CONTAINER_COLUMNS = [
    "Container",
    "Product",
    "NDC",
    "Strength (mg/mL)",
    "Form",
    "Lot",
    "Expires",
    "Status",
]


def _container_cells(c: Container) -> list[Any]:
    return [
        c.label,
        c.product.name,
        c.product.ndc,
        c.product.strength_mg_per_ml,
        c.product.get_form_display(),
        c.lot_number,
        c.expires_on.isoformat(),
        c.get_status_display(),
    ]


INVENTORY_HEADER = [
    *CONTAINER_COLUMNS,
    "Initial (mL)",
    "Remaining (mL)",
    "Remaining (mg)",
    "Safe",
]


def inventory_rows(containers: Iterable[Container]) -> Iterator[list[Any]]:
    for c in containers:
        yield [
            *_container_cells(c),
            c.initial_ml,
            c.remaining_ml,
            c.remaining_mg.quantize(MILLI),
            c.safe.name if c.safe_id else "",
        ]


DISCREPANCY_HEADER = [
    "Counted at",
    "Time zone",
    "Count",
    "Counted by",
    "Witness",
    "Container",
    "Product",
    "Lot",
    "Expected (mL)",
    "Counted (mL)",
    "Difference (mL)",
    "Estimated",
    "Status",
    "Resolution",
    "Resolved by",
    "Resolved at",
]


def discrepancy_rows(lines: Iterable[CountLine], tz: ZoneInfo) -> Iterator[list[Any]]:
    for line in lines:
        yield [
            _when(line.count.counted_at, tz),
            str(tz),
            line.count.get_kind_display(),
            _name(line.count.counted_by),
            _name(line.count.witness),
            line.container.label,
            line.container.product.name,
            line.container.lot_number,
            line.expected_ml,
            line.counted_ml,
            line.discrepancy_ml,
            "yes" if line.estimated else "no",
            "resolved" if line.resolved_at else "open",
            line.resolution,
            _name(line.resolved_by),
            _when(line.resolved_at, tz),
        ]


BIENNIAL_HEADER = [
    "Safe",
    *CONTAINER_COLUMNS,
    "Container size (mL)",
    "Counted (mL)",
    "Estimated (opened)",
    "Initials",
]


def biennial_rows(containers: Iterable[Container]) -> Iterator[list[Any]]:
    for c in containers:
        yield [
            c.safe.name if c.safe_id else "",
            *_container_cells(c),
            c.initial_ml,
            "",
            "",
            "",
        ]


EXPIRING_HEADER = [
    "Expires",
    "Days left",
    "Product",
    "NDC",
    "Lot",
    "Containers",
    "Remaining (mL)",
    "Remaining (mg)",
]


def expiring_rows(lots: Iterable[dict[str, Any]]) -> Iterator[list[Any]]:
    for lot in lots:
        yield [
            lot["expires_on"].isoformat(),
            lot["days_left"],
            lot["product"],
            lot["ndc"],
            lot["lot_number"],
            lot["containers"],
            lot["total_ml"],
            lot["total_mg"],
        ]


ENTRIES_HEADER = [
    "Sequence",
    "Occurred at",
    "Recorded at",
    "Time zone",
    "Kind",
    "Container",
    "Product",
    "Lot",
    "Amount (mL)",
    "Amount (mg)",
    "Container change (mL)",
    "Balance after (mL)",
    "By",
    "Witness",
    "Second witness",
    "Reason",
    "Correction",
    "Previous hash",
    "Entry hash",
]


def entries_rows(entries: Iterable[LedgerEntry], tz: ZoneInfo) -> Iterator[list[Any]]:
    for e in entries:
        yield [
            e.sequence,
            _when(e.occurred_at, tz),
            _when(e.recorded_at, tz),
            str(tz),
            e.get_kind_display(),
            e.container.label,
            e.container.product.name,
            e.container.lot_number,
            e.amount_ml,
            e.amount_mg,
            e.container_change_ml,
            e.balance_after_ml,
            e.actor_name,
            _name(e.witness),
            _name(e.second_witness),
            e.reason,
            reversal_text(e),
            e.previous_hash,
            e.entry_hash,
        ]
