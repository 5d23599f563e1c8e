"""Demo controlled-substance register: a year of deliveries, the draws, administrations and
witnessed waste of every dose the demo gives (today's board, the recent courses and the
outcome histories up to two years back, at every location), one biennial inventory with
one resolved discrepancy, a periodic count, expired stock destroyed and one transfer to the
second location.

The register's services stamp every entry with the present moment and take several queries
an entry; the demo's history is tens of thousands of entries at --patients 100000. So each
entry is built by the register's own `services.ledger_entry_new` (hashed and chained to the
previous entry's at the location), the container's status follows from
`services.container_status_after` on the day of the event, and the entries are written in
bulk; `ledger verify` checks the chain like
any other. All the events are generated first, sorted by time and then applied, so each
location's sequence order is its time order; counts read each container's balance at the
moment of the count.

Draws follow the sessions' own charts: each session draws from a container of the lot its
chart records, at the time dosing started. The deliveries carry those lots: each lot comes
with the location's latest delivery from the right supplier in the LOT_LEAD_DAYS before
its first use (or in a delivery of its own), with as many containers as its draws take
(the draws are replayed to count them). A session whose dosing has ended has its
administration and, for IV, the witnessed waste of the unused part; one still dosing
(today's board) has only its draw, accounted for at the end of the session. The biennial
inventory's discrepancy is a vial found with its cap off (treated as opened, so
estimated), later destroyed with the expired stock.

Deterministic from a fixed seed; dated relative to now.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import Role
from ketaclinic.charting.models import TreatmentSession
from ketaclinic.operations.demo_rows import Statistics, instance_row, rows_insert, rows_update
from ketaclinic.organization.models import Location
from ketaclinic.register import services
from ketaclinic.register.models import (
    Container,
    CountLine,
    EntryKind,
    InventoryCount,
    LedgerChainHead,
    LedgerEntry,
    Product,
    Receipt,
    Safe,
    Supplier,
)

REGISTER_SEED = 20261123
CENT = Decimal("0.01")
TENTH = Decimal("0.1")
MILLI = Decimal("0.001")
# A lot the sessions draw from arrives at most this many days before its first use.
LOT_LEAD_DAYS = 35
# An opened multiple-dose vial is used for up to 28 days (USP <797> beyond-use date, when
# the manufacturer gives none); what is left is destroyed the next morning.
BEYOND_USE_DAYS = 28
BEYOND_USE_TIME = time(7, 45)
BEYOND_USE_METHOD = (
    "Past its beyond-use date (28 days after opening): remainder wasted on site and "
    "rendered non-retrievable"
)
WRITE_BATCH = 2000
LIVE = (Container.Status.SEALED, Container.Status.OPEN)
CONTAINER_FIELDS = [
    "remaining_ml",
    "status",
    "opened_on",
    "closed_on",
    "location_id",
    "safe_id",
]

# ndc, name, drug, form, strength mg/mL, volume mL
KETAMINE_50 = (
    "0409-2051-05",
    "Ketamine HCl injection 50 mg/mL, 10 mL multi-dose vial",
    Product.Drug.KETAMINE,
    Product.Form.VIAL,
    "50",
    "10",
)
KETAMINE_100 = (
    "0409-2053-10",
    "Ketamine HCl injection 100 mg/mL, 5 mL multi-dose vial",
    Product.Drug.KETAMINE,
    Product.Form.VIAL,
    "100",
    "5",
)
# Spravato's label: each nasal spray device holds 28 mg of esketamine in 0.2 mL (140 mg/mL);
# the 56 mg kit has two devices (0.4 mL) and the 84 mg kit three (0.6 mL).
SPRAVATO_56 = (
    "50458-028-02",
    "Spravato (esketamine) nasal spray 56 mg kit, 2 devices of 28 mg",
    Product.Drug.ESKETAMINE,
    Product.Form.NASAL_KIT,
    "140",
    "0.4",
)
SPRAVATO_84 = (
    "50458-028-03",
    "Spravato (esketamine) nasal spray 84 mg kit, 3 devices of 28 mg",
    Product.Drug.ESKETAMINE,
    Product.Form.NASAL_KIT,
    "140",
    "0.6",
)
PRODUCTS = (KETAMINE_50, KETAMINE_100, SPRAVATO_56, SPRAVATO_84)
# Distributors' DEA numbers (P/R prefixes, valid check digit).
WHOLESALER = ("Mountain Medical Supply", "100 Depot St, Salt Lake City, UT 84101", "PM1234563")
SPECIALTY = (
    "Rocky Ridge Specialty Distribution",
    "2200 Industrial Way, Denver, CO 80216",
    "RS7654329",
)
SAFE_NAME = "Med room safe"
REVERSE_DISTRIBUTOR = "Summit Pharmaceutical Returns (demo), DEA RS2468131"
WASTE_REASON = "unused part of the drawn dose"

# Days back from today (moved to the Friday before when on a weekend).
MONTHLY_RECEIPTS = 13  # about every 30 days from a year ago
SECOND_LOCATION_RECEIPTS = (300, 181, 47)
BIENNIAL_DAYS_BACK = 152
DESTRUCTION_DAYS_BACK = 88
SHORT_DATED_EXPIRY_DAYS_BACK = 110  # the first delivery's lots, destroyed once expired
TRANSFER_DAYS_BACK = 58
PERIODIC_DAYS_BACK = 31

DISCREPANCY_RESOLUTION = (
    "Flip-off cap found loose in the tray; stopper intact and unpunctured, no leak in the "
    "carton. Volume estimated by eye at 9.9 mL; rechecked against a sealed vial of the same "
    "presentation with the witness: consistent with the full 10 mL, the difference is the "
    "estimate of an opened container, not a loss. Vial quarantined as opened and returned "
    "for destruction with the next expired stock."
)


@dataclass
class _Line:
    product: Product
    lot: str
    expires_on: date
    count: int


@dataclass
class _Delivery:
    at: datetime
    location: Location
    supplier: Supplier
    received_by: User
    checked_by: User
    lines: list[_Line] = field(default_factory=list)


@dataclass
class _Dose:
    """What a session draws and gives, from its chart."""

    session: TreatmentSession
    product: Product
    draw_ml: Decimal
    given_ml: Decimal


class _Ledger:
    """The entries `services._append` would write, computed in memory in the order they are
    appended and written in bulk (primary keys given here, so that an administration can
    name its draw, which its hash covers)."""

    def __init__(self, finished: Callable[[Container], None]) -> None:
        self.next_pk = (LedgerEntry.objects.aggregate(last=Max("pk"))["last"] or 0) + 1
        self.heads: dict[int, tuple[int, str]] = {
            head.location_id: (head.last_sequence, head.last_hash)
            for head in LedgerChainHead.objects.all()
        }
        self.pending: list[LedgerEntry] = []
        self.finished = finished
        self.statistics = Statistics()

    def append(
        self,
        *,
        kind: str,
        container: Container,
        amount: Decimal,
        change: Decimal,
        actor: User,
        at: datetime,
        recorded: datetime,
        location: Location | None = None,
        **extra: Any,
    ) -> LedgerEntry:
        location = location or container.location
        balance = (container.remaining_ml + change).quantize(MILLI)
        if balance < 0 or balance > container.initial_ml:
            raise RuntimeError(
                f"Demo register: {kind} of {change} mL does not fit container {container.label} "
                f"({container.remaining_ml} of {container.initial_ml} mL)."
            )
        sequence, previous = self.heads.get(location.pk, (0, services.GENESIS_HASH))
        entry = services.ledger_entry_new(
            location=location,
            sequence=sequence + 1,
            previous_hash=previous,
            kind=kind,
            container=container,
            amount_ml=amount,
            change_ml=change,
            balance_ml=balance,
            actor=actor,
            occurred_at=at,
            pk=self.next_pk,
            recorded_at=recorded,
            **extra,
        )
        self.next_pk += 1
        self.heads[location.pk] = (entry.sequence, entry.entry_hash)
        container.remaining_ml = balance
        day = timezone.localtime(at, location.tz).date()
        for name, value in services.container_status_after(
            container, kind, change, balance, day
        ).items():
            setattr(container, name, value)
        if container.status not in LIVE:
            self.finished(container)
        self.pending.append(entry)
        if len(self.pending) >= WRITE_BATCH:
            self.flush()
        return entry

    def flush(self) -> None:
        fields = [f.attname for f in LedgerEntry._meta.concrete_fields]
        rows_insert(LedgerEntry, fields, (instance_row(e, fields) for e in self.pending))
        self.pending = []
        self.statistics.grew()

    def close(self) -> None:
        """Write what is left, the chain heads, and move the key sequence past the keys
        given here (PostgreSQL; SQLite follows inserted keys by itself)."""
        self.flush()
        for location_id, (sequence, last) in self.heads.items():
            LedgerChainHead.objects.update_or_create(
                location_id=location_id,
                defaults={"last_sequence": sequence, "last_hash": last},
            )
        statements = connection.ops.sequence_reset_sql(no_style(), [LedgerEntry])
        if statements:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)


class _Register:
    def __init__(self, now: datetime, progress: Callable[[int], None]) -> None:
        self.rng = random.Random(REGISTER_SEED)
        self.now = now
        self.progress = progress
        self.events: list[tuple[datetime, int, Callable[[], None]]] = []
        self.queued = 0
        # Containers in stock (sealed or open), by key; those used up, destroyed or moved
        # away wait in `finished` for their last fields to be written in bulk.
        self.live: dict[int, Container] = {}
        self.finished: dict[int, Container] = {}
        self.labels: dict[int, int] = {}
        self.quarantined: set[int] = set()
        self.used_lots: set[str] = set()
        self.session_lots: set[str] = set()
        # (location, product, lot) -> its containers, for the draws.
        self.by_lot: dict[tuple[int, int, str], _LotStock] = {}
        # The smallest draw each (location, product, lot) will take: an open container
        # holding less is never drawn from again.
        self.smallest_draw: dict[tuple[int, int, str], Decimal] = {}
        # The lot given to sessions whose chart records none, by (location, product).
        self.blank_lots: dict[tuple[int, int, str], str] = {}
        self.people: dict[int, dict[str, User]] = {}

    # --- set-up -------------------------------------------------------------------------

    def catalogue(self, locations: list[Location]) -> None:
        self.products = {}
        for ndc, name, drug, form, strength, volume in PRODUCTS:
            self.products[ndc] = Product.objects.create(
                ndc=ndc,
                name=name,
                drug=drug,
                form=form,
                strength_mg_per_ml=Decimal(strength),
                container_volume_ml=Decimal(volume),
            )
        self.suppliers = []
        for name, address, dea in (WHOLESALER, SPECIALTY):
            supplier = Supplier(name=name, address=address, dea_number=dea)
            supplier.full_clean()
            supplier.save()
            self.suppliers.append(supplier)
        self.safes = {
            location.pk: Safe.objects.create(location=location, name=SAFE_NAME)
            for location in locations
        }

    def staff(self, location: Location) -> dict[str, User]:
        if location.pk not in self.people:
            self.people[location.pk] = self._staff(location)
        return self.people[location.pk]

    def _staff(self, location: Location) -> dict[str, User]:
        def first(role: Role, here: bool = True) -> User | None:
            users = User.objects.filter(role=role, is_active=True)
            if here:
                users = users.filter(locations=location)
            return users.order_by("pk").first()

        director = first(Role.MEDICAL_DIRECTOR, here=False)
        return {
            "nurse": first(Role.NURSE) or director,
            "prescriber": first(Role.PRESCRIBER) or director,
            "director": director,
        }

    # --- times and lots ---------------------------------------------------------------

    def at(self, location: Location, days_back: int, hour: int, minute: int = 0) -> datetime:
        """A weekday `days_back` days ago (the Friday before a weekend) at local time."""
        day = timezone.localdate(self.now, timezone=location.tz) - timedelta(days=days_back)
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        moment = timezone.make_aware(datetime.combine(day, time(hour, minute)), location.tz)
        return min(moment, self.now)

    def lot(self, product: Product) -> str:
        prefix = "SPV" if product.drug == Product.Drug.ESKETAMINE else "KET"
        while True:
            lot = f"{prefix}{self.rng.randrange(10**5):05d}"
            if lot not in self.used_lots:
                self.used_lots.add(lot)
                return lot

    def event(self, at: datetime, apply: Callable[[], None]) -> None:
        self.queued += 1
        heapq.heappush(self.events, (at, self.queued, apply))

    # --- writing entries --------------------------------------------------------------

    def append(
        self,
        *,
        kind: str,
        container: Container,
        amount: Decimal,
        change: Decimal,
        actor: User,
        at: datetime,
        **extra: Any,
    ) -> LedgerEntry:
        recorded = min(at + timedelta(seconds=self.rng.randint(20, 240)), self.now)
        return self.ledger.append(
            kind=kind,
            container=container,
            amount=amount,
            change=change,
            actor=actor,
            at=at,
            recorded=recorded,
            **extra,
        )

    def local_day_of(self, location: Location, at: datetime) -> date:
        return timezone.localtime(at, location.tz).date()

    def in_stock(self, location: Location) -> list[Container]:
        return sorted(
            (
                c
                for c in self.live.values()
                if c.location_id == location.pk
                and c.status in (Container.Status.SEALED, Container.Status.OPEN)
                and c.remaining_ml > 0
            ),
            key=lambda c: c.label,
        )

    # --- events -----------------------------------------------------------------------

    def receive(self, delivery: _Delivery) -> None:
        location = delivery.location
        invoice_date = self.local_day_of(location, delivery.at) - timedelta(
            days=self.rng.randint(1, 3)
        )
        receipt = Receipt.objects.create(
            location=location,
            supplier=delivery.supplier,
            invoice_number=f"{delivery.supplier.name[:2].upper()}-{self.rng.randrange(10**6):06d}",
            invoice_date=invoice_date,
            received_at=delivery.at,
            received_by=delivery.received_by,
            checked_by=delivery.checked_by,
        )
        if location.pk not in self.labels:
            self.labels[location.pk] = services._next_label(location)
        prefix = f"{location.short_name.upper()[:6]}-"
        new = []
        for line in delivery.lines:
            for _ in range(line.count):
                number = self.labels[location.pk]
                self.labels[location.pk] += 1
                new.append(
                    Container(
                        label=f"{prefix}{number:06d}",
                        product=line.product,
                        location=location,
                        safe=self.safes[location.pk],
                        receipt=receipt,
                        lot_number=line.lot,
                        expires_on=line.expires_on,
                        initial_ml=line.product.container_volume_ml,
                        remaining_ml=services.ZERO,
                    )
                )
        Container.objects.bulk_create(new)
        for container in new:
            key = (location.pk, container.product_id, container.lot_number)
            if key not in self.by_lot:
                self.by_lot[key] = _LotStock(self.smallest_draw.get(key, Decimal(0)))
            self.by_lot[key].sealed.append(container)
            self.live[container.pk] = container
        supplier = delivery.supplier
        for container in new:
            volume = container.product.container_volume_ml
            self.append(
                kind=EntryKind.RECEIVE,
                container=container,
                amount=volume,
                change=volume,
                actor=delivery.received_by,
                at=delivery.at,
                witness=delivery.checked_by,
                detail={
                    "invoice": receipt.invoice_number,
                    "invoice_date": invoice_date.isoformat(),
                    "supplier": supplier.name,
                    "supplier_address": supplier.address,
                    "supplier_dea": supplier.dea_number,
                },
            )

    def finish(self, container: Container) -> None:
        """A container left the stock (used up, destroyed, lost, moved away): its fields are
        written with the next batch (again if an entry changes it later)."""
        self.live.pop(container.pk, None)
        self.finished[container.pk] = container
        if len(self.finished) >= WRITE_BATCH:
            self.write_containers()

    def write_containers(self) -> None:
        rows_update(
            Container,
            CONTAINER_FIELDS,
            ((c.pk, *instance_row(c, CONTAINER_FIELDS)) for c in self.finished.values()),
        )
        self.finished = {}

    def session_draw(self, dose: _Dose, staff: dict[str, User]) -> None:
        session = dose.session
        at = session.dosing_started_at
        day = self.local_day_of(session.location, at)
        key = (session.location_id, dose.product.pk, self.lot_of(session, dose.product))
        stock = self.by_lot.get(key)
        container = stock.pick(session.location_id, dose.draw_ml, day) if stock else None
        if container is None:
            raise RuntimeError(
                f"Demo register: no {dose.product} of lot {key[2]} at "
                f"{session.location} for the session of {at:%Y-%m-%d %H:%M}."
            )
        breaking = container.status == Container.Status.SEALED
        actor = session.monitoring_provider or staff["nurse"]
        draw = self.append(
            kind=EntryKind.DRAW,
            container=container,
            amount=dose.draw_ml,
            change=-dose.draw_ml,
            actor=actor,
            at=at,
            session=session,
            patient_id=session.patient_id,
        )
        if breaking and container.status == Container.Status.OPEN:
            stock.opened_now(container)
        if breaking and container.status == Container.Status.OPEN and container.opened_on:
            last_day = container.opened_on + timedelta(days=BEYOND_USE_DAYS)
            discard = timezone.make_aware(
                datetime.combine(last_day, BEYOND_USE_TIME), session.location.tz
            )
            if discard <= self.now:
                self.event(discard, lambda: self.discard_opened(container, discard, staff))
        ended = session.dosing_ended_at
        if ended is None or ended > self.now:
            return  # still dosing: accounted for at the end of the session
        self.event(ended, lambda: self.session_account(dose, draw, actor, staff))

    def session_account(
        self, dose: _Dose, draw: LedgerEntry, actor: User, staff: dict[str, User]
    ) -> None:
        session = dose.session
        ended = session.dosing_ended_at
        common = {"draw": draw, "session_id": session.pk, "patient_id": session.patient_id}
        self.append(
            kind=EntryKind.ADMINISTER,
            container=draw.container,
            amount=dose.given_ml,
            change=services.ZERO,
            actor=actor,
            at=ended,
            **common,
        )
        rest = dose.draw_ml - dose.given_ml
        if rest <= 0:
            return
        witness = staff["prescriber"] if staff["prescriber"].pk != actor.pk else staff["director"]
        wasted = min(ended + timedelta(minutes=2), self.now)
        # Queued, not appended now: other sessions' entries may fall in the two minutes.
        self.event(
            wasted,
            lambda: self.append(
                kind=EntryKind.WASTE,
                container=draw.container,
                amount=rest,
                change=services.ZERO,
                actor=actor,
                at=wasted,
                witness=witness,
                reason=WASTE_REASON,
                **common,
            ),
        )

    def count(
        self,
        location: Location,
        at: datetime,
        kind: str,
        staff: dict[str, User],
        *,
        note: str,
        discrepancy: bool,
    ) -> None:
        stock = self.in_stock(location)
        counted = InventoryCount.objects.create(
            location=location,
            kind=kind,
            counted_at=at,
            counted_by=staff["director"],
            witness=staff["nurse"],
            note=note,
        )
        odd = None
        if discrepancy and stock:
            # A sealed vial found with its cap off: the latest delivered 50 mg/mL one.
            vials = [c for c in stock if c.product.ndc == KETAMINE_50[0]] or stock
            odd = vials[-1]
            odd.status = Container.Status.OPEN
            odd.opened_on = self.local_day_of(location, at)
            self.quarantined.add(odd.pk)
        lines = []
        for container in stock:
            expected = container.remaining_ml
            value = expected - TENTH if container is odd else expected
            line = CountLine(
                count=counted,
                container=container,
                expected_ml=expected,
                counted_ml=value,
                estimated=container.status == Container.Status.OPEN,
            )
            if container is odd:
                line.resolved_at = at + timedelta(hours=16, minutes=self.rng.randint(0, 50))
                line.resolved_by = staff["director"]
                line.resolution = DISCREPANCY_RESOLUTION
            lines.append(line)
            self.append(
                kind=EntryKind.COUNT,
                container=container,
                amount=value,
                change=services.ZERO,
                actor=staff["director"],
                at=at,
                witness=staff["nurse"],
                detail={"count": counted.pk, "expected_ml": str(expected)},
            )
        CountLine.objects.bulk_create(lines)

    def destroy(
        self,
        container: Container,
        at: datetime,
        staff: dict[str, User],
        *,
        method: str,
        reverse_distributor: str = "",
    ) -> None:
        """All that is left in a container, destroyed with two witnesses (DEA Form 41)."""
        product = container.product
        amount = container.remaining_ml
        detail = {
            "form": "DEA Form 41",
            "ndc": product.ndc,
            "name": product.name,
            "strength_mg_per_ml": str(product.strength_mg_per_ml),
            "dosage_form": product.get_form_display(),
            "quantity_ml": str(amount),
            "method": method,
        }
        if reverse_distributor:
            detail["reverse_distributor"] = reverse_distributor
        self.append(
            kind=EntryKind.DESTROY,
            container=container,
            amount=amount,
            change=-amount,
            actor=staff["director"],
            at=at,
            witness=staff["nurse"],
            second_witness=staff["prescriber"],
            reason=method,
            detail=detail,
        )

    def destroy_expired(self, location: Location, at: datetime, staff: dict[str, User]) -> None:
        day = self.local_day_of(location, at)
        method = "Returned to the reverse distributor for destruction (non-retrievable)"
        for container in self.in_stock(location):
            if container.expires_on >= day and container.pk not in self.quarantined:
                continue
            self.destroy(
                container, at, staff, method=method, reverse_distributor=REVERSE_DISTRIBUTOR
            )

    def discard_opened(self, container: Container, at: datetime, staff: dict[str, User]) -> None:
        """The morning after an opened vial's last day of use: what is left is destroyed
        (unless it ran dry, moved, or went with the expired stock)."""
        if container.status != Container.Status.OPEN or container.remaining_ml <= 0:
            return
        self.destroy(container, at, self.staff(container.location), method=BEYOND_USE_METHOD)

    def transfer(
        self, source: Location, target: Location, at: datetime, staff: dict[str, User]
    ) -> None:
        day = self.local_day_of(source, at)
        # Never a container of a lot the sessions here still draw from.
        sealed = [
            c
            for c in self.in_stock(source)
            if c.status == Container.Status.SEALED
            and c.product.ndc == KETAMINE_100[0]
            and c.lot_number not in self.session_lots
            and c.expires_on > day + timedelta(days=180)
        ]
        if not sealed:
            return
        container = min(sealed, key=lambda c: (c.expires_on, c.label))
        volume = container.remaining_ml
        common = {"actor": staff["director"], "at": at, "witness": staff["nurse"]}
        self.append(
            kind=EntryKind.TRANSFER_OUT,
            container=container,
            amount=volume,
            change=-volume,
            location=source,
            detail={"to": target.name},
            **common,
        )
        container.location = target
        container.safe = None
        self.append(
            kind=EntryKind.TRANSFER_IN,
            container=container,
            amount=volume,
            change=volume,
            location=target,
            detail={"from": source.name},
            **common,
        )

    # --- the plan ---------------------------------------------------------------------

    def doses(self, locations: list[Location]) -> Iterator[_Dose]:
        """Every dose given up to now, in the order dosing started, read in chunks (a
        million sessions at network scale): only what a draw reads, one object per
        location and nurse."""
        ketamine = self.products[KETAMINE_100[0]]
        kits = sorted(
            (self.products[SPRAVATO_56[0]], self.products[SPRAVATO_84[0]]),
            key=lambda p: p.mg_per_container,
        )
        sessions = (
            TreatmentSession.objects.filter(
                dosing_started_at__isnull=False,
                dosing_started_at__lte=self.now,
                dose_mg__isnull=False,
            )
            .only(
                "patient_id",
                "location_id",
                "route",
                "monitoring_provider_id",
                "dose_mg",
                "lot_number",
                "dosing_started_at",
                "dosing_ended_at",
            )
            .order_by("dosing_started_at", "pk")
        )
        places = {location.pk: location for location in locations}
        nurses = {
            user.pk: user
            for user in User.objects.filter(
                role__in=[Role.NURSE, Role.PRESCRIBER, Role.MEDICAL_DIRECTOR]
            )
        }
        for session in sessions.iterator(chunk_size=WRITE_BATCH):
            session.location = places[session.location_id]
            if session.monitoring_provider_id is not None:
                if session.monitoring_provider_id not in nurses:
                    nurses[session.monitoring_provider_id] = session.monitoring_provider
                session.monitoring_provider = nurses[session.monitoring_provider_id]
            if session.is_esketamine:
                kit = next((k for k in kits if k.mg_per_container >= session.dose_mg), kits[-1])
                given = min(
                    (session.dose_mg / kit.strength_mg_per_ml).quantize(CENT, ROUND_HALF_UP),
                    kit.container_volume_ml,
                )
                yield _Dose(session, kit, kit.container_volume_ml, given)
            else:
                # The dose's volume to 0.01 mL; the syringe drawn to the next 0.1 mL
                # graduation at least 0.05 mL over it, and the rest wasted.
                given = (session.dose_mg / ketamine.strength_mg_per_ml).quantize(
                    CENT, ROUND_HALF_UP
                )
                drawn = ((given + Decimal("0.05")) / TENTH).to_integral_value(ROUND_CEILING)
                yield _Dose(session, ketamine, drawn * TENTH, given)

    def lot_of(self, session: TreatmentSession, product: Product) -> str:
        """The lot the session draws from: its chart's, or the one chosen for the sessions
        of its location whose chart records none (in memory only)."""
        if session.lot_number:
            return session.lot_number
        return self.blank_lots[(session.location_id, product.pk, "")]

    def deliveries(self, main: Location, second: Location | None) -> list[_Delivery]:
        wholesaler, specialty = self.suppliers
        staff = self.staff(main)
        ketamine_50 = self.products[KETAMINE_50[0]]
        ketamine_100 = self.products[KETAMINE_100[0]]
        kit_56 = self.products[SPRAVATO_56[0]]
        kit_84 = self.products[SPRAVATO_84[0]]
        today = timezone.localdate(self.now, timezone=main.tz)
        deliveries = []
        for month in range(MONTHLY_RECEIPTS):
            back = max(2, 362 - 30 * month + self.rng.randint(-4, 4))
            at = self.at(main, back, self.rng.randint(10, 14), self.rng.choice([0, 15, 30, 45]))
            received = at.date()
            if month == 0:
                expires = today - timedelta(days=SHORT_DATED_EXPIRY_DAYS_BACK)
            else:
                expires = received + timedelta(days=self.rng.randint(540, 720))
            checker = staff["director"] if month % 4 else staff["prescriber"]
            ketamine = _Delivery(at, main, wholesaler, staff["nurse"], checker)
            ketamine.lines.append(_Line(ketamine_100, self.lot(ketamine_100), expires, 2))
            if month % 3 == 0:
                ketamine.lines.append(_Line(ketamine_50, self.lot(ketamine_50), expires, 1))
            deliveries.append(ketamine)
            if month % 3 == 1:
                kits = _Delivery(at, main, specialty, staff["nurse"], checker)
                kits.lines += [
                    _Line(kit_56, self.lot(kit_56), expires, 1),
                    _Line(kit_84, self.lot(kit_84), expires, 1),
                ]
                deliveries.append(kits)
        if second is not None:
            there = self.staff(second)
            for index, back in enumerate(SECOND_LOCATION_RECEIPTS):
                at = self.at(second, back, 11, 30)
                expires = at.date() + timedelta(days=self.rng.randint(540, 720))
                delivery = _Delivery(at, second, wholesaler, there["nurse"], there["prescriber"])
                delivery.lines.append(_Line(ketamine_100, self.lot(ketamine_100), expires, 2))
                deliveries.append(delivery)
                if index == 1:
                    kits = _Delivery(at, second, specialty, there["nurse"], there["prescriber"])
                    kits.lines.append(_Line(kit_56, self.lot(kit_56), expires, 1))
                    deliveries.append(kits)
        return deliveries

    def stock_for_sessions(self, deliveries: list[_Delivery]) -> None:
        """Put each lot the sessions' charts record on the location's latest delivery from
        the right supplier in the LOT_LEAD_DAYS before its first use (or on a delivery of
        its own, the weekday before), with as many containers as its draws take.

        Two passes over the doses, neither holding them: the first finds each lot's
        smallest draw (an open container holding less is done with), the second replays
        the draws to count the containers."""
        wholesaler, specialty = self.suppliers
        smallest = self.smallest_draw
        for dose in self.doses(self.locations):
            key = (dose.session.location_id, dose.product.pk, dose.session.lot_number)
            if key not in smallest or dose.draw_ml < smallest[key]:
                smallest[key] = dose.draw_ml
        needs: dict[tuple[int, int, str], tuple[_Dose, _ContainersDrawn]] = {}
        for dose in self.doses(self.locations):
            key = (dose.session.location_id, dose.product.pk, dose.session.lot_number)
            if key not in needs:
                counter = _ContainersDrawn(dose.product.container_volume_ml, smallest[key])
                needs[key] = (dose, counter)
            day = self.local_day_of(dose.session.location, dose.session.dosing_started_at)
            needs[key][1].draw(dose.draw_ml, day)
        for (location_id, product_id, lot), (first, counter) in needs.items():
            if not lot:
                lot = self.lot(first.product)
                self.blank_lots[(location_id, product_id, "")] = lot
                smallest[(location_id, product_id, lot)] = smallest[(location_id, product_id, "")]
            self.used_lots.add(lot)
            self.session_lots.add(lot)
            product = first.product
            supplier = specialty if product.drug == Product.Drug.ESKETAMINE else wholesaler
            first_use = first.session.dosing_started_at
            earlier = [
                d
                for d in deliveries
                if d.location.pk == location_id
                and d.supplier == supplier
                and first_use - timedelta(days=LOT_LEAD_DAYS)
                <= d.at
                <= first_use - timedelta(days=1)
            ]
            if earlier:
                delivery = max(earlier, key=lambda d: d.at)
            else:
                location = first.session.location
                staff = self.staff(location)
                day = self.local_day_of(location, first_use) - timedelta(days=2)
                while day.weekday() >= 5:
                    day -= timedelta(days=1)
                at = timezone.make_aware(datetime.combine(day, time(11, 0)), location.tz)
                delivery = _Delivery(at, location, supplier, staff["nurse"], staff["director"])
                deliveries.append(delivery)
            expires = delivery.at.date() + timedelta(days=self.rng.randint(540, 720))
            delivery.lines.append(_Line(product, lot, expires, counter.count))

    def run(self, locations: list[Location]) -> None:
        main = locations[0]
        second = locations[1] if len(locations) > 1 else None
        self.locations = locations
        self.ledger = _Ledger(self.finish)
        self.catalogue(locations)
        staff = self.staff(main)
        self.used_lots |= set(
            TreatmentSession.objects.exclude(lot_number="")
            .values_list("lot_number", flat=True)
            .distinct()
        )
        deliveries = self.deliveries(main, second)
        self.stock_for_sessions(deliveries)
        for delivery in deliveries:
            self.event(delivery.at, lambda d=delivery: self.receive(d))
        # The draws come from the stream of doses in time order, between the queued
        # events: after the deliveries of the same moment, before everything else.
        deliveries_queued = self.queued
        doses = self.doses(locations)
        upcoming = next(doses, None)
        self.event(
            self.at(main, BIENNIAL_DAYS_BACK, 17, 30),
            lambda: self.count(
                main,
                self.at(main, BIENNIAL_DAYS_BACK, 17, 30),
                InventoryCount.Kind.BIENNIAL,
                staff,
                note="Biennial inventory (21 CFR 1304.11), taken at close of business.",
                discrepancy=True,
            ),
        )
        self.event(
            self.at(main, PERIODIC_DAYS_BACK, 17, 30),
            lambda: self.count(
                main,
                self.at(main, PERIODIC_DAYS_BACK, 17, 30),
                InventoryCount.Kind.PERIODIC,
                staff,
                note="Monthly count.",
                discrepancy=False,
            ),
        )
        for location in locations:
            destruction = self.at(location, DESTRUCTION_DAYS_BACK, 11, 0)
            self.event(
                destruction,
                lambda loc=location, at=destruction: self.destroy_expired(loc, at, self.staff(loc)),
            )
        if second is not None:
            moved = self.at(main, TRANSFER_DAYS_BACK, 9, 15)
            self.event(moved, lambda: self.transfer(main, second, moved, staff))
        # In time order; applying a draw queues its administration at the end of dosing.
        booked = 0
        while self.events or upcoming is not None:
            if upcoming is not None and (
                not self.events
                or (upcoming.session.dosing_started_at, deliveries_queued) < self.events[0][:2]
            ):
                self.session_draw(upcoming, self.staff(upcoming.session.location))
                upcoming = next(doses, None)
                booked += 1
                if booked % WRITE_BATCH == 0:
                    self.progress(WRITE_BATCH)
            else:
                heapq.heappop(self.events)[2]()
        self.progress(booked % WRITE_BATCH)
        self.ledger.close()
        self.finished.update(self.live)
        self.write_containers()


@dataclass
class _LotStock:
    """One lot's containers at a location: those opened (in label order) and those still
    sealed (in label order, the next to break first)."""

    smallest_draw: Decimal
    opened: list[Container] = field(default_factory=list)
    sealed: deque[Container] = field(default_factory=deque)

    def pick(self, location_id: int, draw_ml: Decimal, day: date) -> Container | None:
        """The container a draw is taken from: the first open one it fits in (within its
        beyond-use days), else the next sealed one (not expired)."""

        def usable(c: Container) -> bool:
            return (
                c.location_id == location_id
                and c.remaining_ml >= draw_ml
                and c.expires_on >= day
                and (c.opened_on is None or day < c.opened_on + timedelta(days=BEYOND_USE_DAYS))
            )

        # Done with: closed, past its beyond-use day (days only go forward), or holding
        # less than any draw of this lot takes.
        self.opened = [
            c
            for c in self.opened
            if c.status == Container.Status.OPEN
            and c.remaining_ml >= self.smallest_draw
            and (c.opened_on is None or day < c.opened_on + timedelta(days=BEYOND_USE_DAYS))
        ]
        fits = [c for c in self.opened if usable(c)]
        if fits:
            return min(fits, key=lambda c: c.label)
        while self.sealed and self.sealed[0].status != Container.Status.SEALED:
            found = self.sealed.popleft()  # moved, destroyed, or found opened at a count
            if found.status == Container.Status.OPEN:
                self.opened.append(found)
                if usable(found):
                    return found
        return next(
            (c for c in self.sealed if c.status == Container.Status.SEALED and usable(c)), None
        )

    def opened_now(self, container: Container) -> None:
        self.sealed.remove(container)
        self.opened.append(container)


class _ContainersDrawn:
    """How many containers of `volume` a lot's draws (volume, local day) take, in order,
    drawing as `_LotStock.pick` does: from the first open container the draw fits in and
    that is within its beyond-use days, else from the next sealed one."""

    def __init__(self, volume: Decimal, smallest_draw: Decimal) -> None:
        self.volume = volume
        self.smallest_draw = smallest_draw
        self.count = 0
        self.opened: list[list[Any]] = []  # [what it holds, opened on], in label order

    def draw(self, draw_ml: Decimal, day: date) -> None:
        self.opened = [
            held
            for held in self.opened
            if held[0] >= self.smallest_draw and day < held[1] + timedelta(days=BEYOND_USE_DAYS)
        ]
        held = next((h for h in self.opened if h[0] >= draw_ml), None)
        if held is None:
            held = [self.volume, day]
            self.opened.append(held)
            self.count += 1
        held[0] -= draw_ml


def seed_register(*, now: datetime, progress: Callable[[int], None] = lambda n: None) -> None:
    """Seed the demo clinic's register up to `now`, at every location (after every demo
    session is charted, the outcome histories' included); progress(n) is called as the
    doses are booked, n at a time."""
    locations = list(Location.objects.order_by("pk"))
    if not locations:
        return
    with transaction.atomic():
        _Register(now, progress).run(locations)
