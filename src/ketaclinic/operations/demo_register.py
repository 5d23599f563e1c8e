"""Demo controlled-substance register: a year of deliveries, the demo sessions' draws,
administrations and witnessed waste, one biennial inventory with one resolved discrepancy,
a periodic count, expired stock destroyed and one transfer to the second location.

The register's services stamp every entry with the present moment, so the history is
written through the same `services._append` they use (same balance update, same hash
chain), with the time each event had. All the year's events are generated first, sorted
by time and then appended, so each location's sequence order is its time order; counts
read each container's balance at the moment of the count.

Draws follow the demo sessions' own charts: each session draws from a container of the
lot its chart records (the deliveries carry those lots), at the time dosing started. A
session whose dosing has ended has its administration and, for IV, the witnessed waste of
the unused part; one still dosing (today's board) has only its draw, accounted for at the
end of the session. The demo has no sessions before the last few weeks, so the stock
counted months ago is all sealed; the biennial inventory's discrepancy is a vial found
with its cap off (treated as opened, so estimated), later destroyed with the expired stock.

Deterministic from a fixed seed; dated relative to now; independent of the number of
patients.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import Role
from ketaclinic.charting.models import TreatmentSession
from ketaclinic.organization.models import Location
from ketaclinic.register import services
from ketaclinic.register.models import (
    Container,
    CountLine,
    EntryKind,
    InventoryCount,
    LedgerEntry,
    Product,
    Receipt,
    Safe,
    Supplier,
)

REGISTER_SEED = 20261123
CENT = Decimal("0.01")
TENTH = Decimal("0.1")

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


class _Register:
    def __init__(self, now: datetime) -> None:
        self.rng = random.Random(REGISTER_SEED)
        self.now = now
        self.events: list[tuple[datetime, int, Callable[[], None]]] = []
        self.queued = 0
        self.containers: list[Container] = []
        self.labels: dict[int, int] = {}
        self.quarantined: set[int] = set()
        self.used_lots: set[str] = set()
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
        return services._append(
            kind=kind,
            container=container,
            amount_ml=amount,
            change_ml=change,
            actor=actor,
            occurred_at=at,
            recorded_at=recorded,
            **extra,
        )

    def local_day_of(self, location: Location, at: datetime) -> date:
        return timezone.localtime(at, location.tz).date()

    def after_change(self, container: Container, at: datetime) -> None:
        """What the services do to a container's status after a draw."""
        if container.status == Container.Status.SEALED:
            container.status = Container.Status.OPEN
            container.opened_on = self.local_day_of(container.location, at)
        if container.remaining_ml == 0:
            container.status = Container.Status.EMPTY
            container.closed_on = self.local_day_of(container.location, at)

    def in_stock(self, location: Location) -> list[Container]:
        return sorted(
            (
                c
                for c in self.containers
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
        self.containers += new

    def session_draw(self, dose: _Dose, staff: dict[str, User]) -> None:
        session = dose.session
        at = session.dosing_started_at
        day = self.local_day_of(session.location, at)
        fits = [
            c
            for c in self.in_stock(session.location)
            if c.product_id == dose.product.pk
            and c.remaining_ml >= dose.draw_ml
            and c.expires_on >= day
        ]
        same_lot = [c for c in fits if c.lot_number == session.lot_number]
        choices = same_lot or fits
        if not choices:
            raise RuntimeError(f"Demo register: no {dose.product} for session {session.pk}.")
        # An open container first (use it up before breaking a new one), then the first.
        container = min(choices, key=lambda c: (c.status != Container.Status.OPEN, c.label))
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
        self.after_change(container, at)
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
        self.append(
            kind=EntryKind.WASTE,
            container=draw.container,
            amount=rest,
            change=services.ZERO,
            actor=actor,
            at=min(ended + timedelta(minutes=2), self.now),
            witness=witness,
            reason=WASTE_REASON,
            **common,
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

    def destroy_expired(self, location: Location, at: datetime, staff: dict[str, User]) -> None:
        day = self.local_day_of(location, at)
        method = "Returned to the reverse distributor for destruction (non-retrievable)"
        for container in self.in_stock(location):
            if container.expires_on >= day and container.pk not in self.quarantined:
                continue
            product = container.product
            amount = container.remaining_ml
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
                detail={
                    "form": "DEA Form 41",
                    "ndc": product.ndc,
                    "name": product.name,
                    "strength_mg_per_ml": str(product.strength_mg_per_ml),
                    "dosage_form": product.get_form_display(),
                    "quantity_ml": str(amount),
                    "method": method,
                    "reverse_distributor": REVERSE_DISTRIBUTOR,
                },
            )
            container.status = Container.Status.DESTROYED
            container.closed_on = day

    def transfer(
        self, source: Location, target: Location, at: datetime, staff: dict[str, User]
    ) -> None:
        day = self.local_day_of(source, at)
        sealed = [
            c
            for c in self.in_stock(source)
            if c.status == Container.Status.SEALED
            and c.product.ndc == KETAMINE_100[0]
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

    def doses(self) -> list[_Dose]:
        ketamine = self.products[KETAMINE_100[0]]
        kits = sorted(
            (self.products[SPRAVATO_56[0]], self.products[SPRAVATO_84[0]]),
            key=lambda p: p.mg_per_container,
        )
        doses = []
        for session in (
            TreatmentSession.objects.filter(
                dosing_started_at__isnull=False,
                dosing_started_at__lte=self.now,
                dose_mg__isnull=False,
            )
            .select_related("location", "monitoring_provider")
            .order_by("dosing_started_at", "pk")
        ):
            if session.is_esketamine:
                kit = next((k for k in kits if k.mg_per_container >= session.dose_mg), kits[-1])
                given = min(
                    (session.dose_mg / kit.strength_mg_per_ml).quantize(CENT, ROUND_HALF_UP),
                    kit.container_volume_ml,
                )
                doses.append(_Dose(session, kit, kit.container_volume_ml, given))
            else:
                # The dose's volume to 0.01 mL; the syringe drawn to the next 0.1 mL
                # graduation at least 0.05 mL over it, and the rest wasted.
                given = (session.dose_mg / ketamine.strength_mg_per_ml).quantize(
                    CENT, ROUND_HALF_UP
                )
                drawn = ((given + Decimal("0.05")) / TENTH).to_integral_value(ROUND_CEILING)
                doses.append(_Dose(session, ketamine, drawn * TENTH, given))
        return doses

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

    def stock_for_sessions(self, deliveries: list[_Delivery], doses: list[_Dose]) -> None:
        """Put each lot the sessions' charts record on the last delivery from the right
        supplier before its first use, with enough containers for its draws."""
        wholesaler, specialty = self.suppliers
        needs: dict[tuple[int, int, str], list[_Dose]] = {}
        for dose in doses:
            key = (dose.session.location_id, dose.product.pk, dose.session.lot_number)
            needs.setdefault(key, []).append(dose)
        for (location_id, _product_id, lot), uses in needs.items():
            if not lot:
                lot = self.lot(uses[0].product)
                for dose in uses:
                    dose.session.lot_number = lot  # in memory only: which lot to draw from
            self.used_lots.add(lot)
            product = uses[0].product
            supplier = specialty if product.drug == Product.Drug.ESKETAMINE else wholesaler
            first_use = uses[0].session.dosing_started_at
            count, left = 0, Decimal(0)
            for dose in uses:
                if left < dose.draw_ml:
                    count, left = count + 1, product.container_volume_ml
                left -= dose.draw_ml
            earlier = [
                d
                for d in deliveries
                if d.location.pk == location_id
                and d.supplier == supplier
                and d.at <= first_use - timedelta(days=1)
            ]
            if earlier:
                delivery = max(earlier, key=lambda d: d.at)
            else:
                location = uses[0].session.location
                staff = self.staff(location)
                at = min(first_use - timedelta(days=3), self.now)
                delivery = _Delivery(at, location, supplier, staff["nurse"], staff["director"])
                deliveries.append(delivery)
            expires = delivery.at.date() + timedelta(days=self.rng.randint(540, 720))
            delivery.lines.append(_Line(product, lot, expires, count))

    def run(self, locations: list[Location]) -> None:
        main = locations[0]
        second = locations[1] if len(locations) > 1 else None
        self.catalogue(locations)
        staff = self.staff(main)
        doses = self.doses()
        self.used_lots |= {d.session.lot_number for d in doses if d.session.lot_number}
        deliveries = self.deliveries(main, second)
        self.stock_for_sessions(deliveries, doses)
        for delivery in deliveries:
            self.event(delivery.at, lambda d=delivery: self.receive(d))
        for dose in doses:
            at = dose.session.dosing_started_at
            self.event(at, lambda d=dose: self.session_draw(d, self.staff(d.session.location)))
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
        destruction = self.at(main, DESTRUCTION_DAYS_BACK, 11, 0)
        self.event(destruction, lambda: self.destroy_expired(main, destruction, staff))
        if second is not None:
            moved = self.at(main, TRANSFER_DAYS_BACK, 9, 15)
            self.event(moved, lambda: self.transfer(main, second, moved, staff))
        # In time order; applying a draw queues its administration at the end of dosing.
        while self.events:
            heapq.heappop(self.events)[2]()
        Container.objects.bulk_update(
            self.containers, ["status", "opened_on", "closed_on", "location", "safe"]
        )


def seed_register(*, now: datetime) -> None:
    """Seed a year of the demo clinic's register up to `now` (after the demo sessions are
    charted)."""
    locations = list(Location.objects.order_by("pk")[:2])
    if not locations:
        return
    with transaction.atomic():
        _Register(now).run(locations)
