"""Property test of the register: whatever sequence of draws, administrations, witnessed
waste, returns, corrections, transfers, destructions and losses is attempted through the
real services, every container's recorded balance equals the sum of its ledger entries
and what the accepted operations did to it, stays within 0 and its fill, and equals the
balance after its last entry; no draw is over-accounted; the hash chain verifies; and a
refused operation changes nothing.

Run on a fresh clinic and on the seeded demo clinic (its year of history). Each example
runs in a savepoint that is rolled back, so examples do not see each other's entries.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ketaclinic.accounts.models import User
from ketaclinic.charting.models import SessionStatus, TreatmentSession
from ketaclinic.charting.tests.conftest import prechecked
from ketaclinic.conftest import PASSWORD
from ketaclinic.operations.demo import seed_demo
from ketaclinic.operations.demo_constants import DEMO_PASSWORD
from ketaclinic.organization.models import Location
from ketaclinic.register import services
from ketaclinic.register.models import (
    UNACCOUNTED_NOISE_ML,
    Container,
    EntryKind,
    LedgerEntry,
    LossReport,
    OpenDraw,
)
from ketaclinic.register.tests.conftest import ketamine_vials

pytestmark = pytest.mark.django_db

MILLI = Decimal("0.001")
WITNESSES = ["prescriber", "director", "nurse", "other_nurse", "wrong password", "none"]
# Mostly someone who may witness at the first location, sometimes anyone (or no one).
WITNESS = st.one_of(st.sampled_from(["prescriber", "director"]), st.sampled_from(WITNESSES))
TRANSFER_WITNESS = st.one_of(
    st.sampled_from(["nurse", "prescriber", "other_nurse"]), st.sampled_from(WITNESSES)
)
WITNESS_PAIRS = st.one_of(
    st.sampled_from([("nurse", "prescriber"), ("prescriber", "other_nurse")]),
    st.tuples(st.sampled_from(WITNESSES), st.sampled_from(WITNESSES)),
)
# A volume: a number of mL (some impossible), or a share of what there is to take from.
AMOUNTS = st.one_of(
    st.tuples(
        st.just("ml"),
        st.one_of(
            st.decimals(min_value=Decimal("0.001"), max_value=Decimal("12"), places=3),
            st.sampled_from([Decimal("0"), Decimal("-1"), Decimal("10"), Decimal("10.001")]),
        ),
    ),
    st.tuples(st.just("of"), st.sampled_from(["quarter", "half", "all", "over"])),
)
PICK = st.integers(min_value=0, max_value=1000)


def _resolve(spec: tuple[str, Any], base: Decimal) -> Decimal:
    kind, value = spec
    if kind == "ml":
        return value
    if value == "over":
        return base + MILLI
    share = {"quarter": Decimal("0.25"), "half": Decimal("0.5"), "all": Decimal(1)}[value]
    amount = (base * share).quantize(MILLI, ROUND_DOWN)
    return amount if amount > 0 else base


class RegisterMachine(RuleBasedStateMachine):
    """`context` (set by each test): users by role key, the witness password, the sessions
    to draw for by drug, the two locations, and a function returning the containers to
    work on (reloaded at the start of each example)."""

    context: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.users: dict[str, User] = self.context["users"]
        self.password: str = self.context["password"]
        self.sessions: dict[str, TreatmentSession] = self.context["sessions"]
        self.containers: list[Container] = self.context["containers"]()
        self.pks = [c.pk for c in self.containers]
        self.expected = {c.pk: c.remaining_ml for c in self.containers}
        self.draws: list[int] = []
        self.today = timezone.localdate()
        self.changed = True

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    # --- helpers ------------------------------------------------------------------------

    def container(self, pick: int) -> Container:
        return Container.objects.select_related("product", "location").get(
            pk=self.pks[pick % len(self.pks)]
        )

    def draw(self, pick: int) -> LedgerEntry:
        return LedgerEntry.objects.select_related("container", "location").get(
            pk=self.draws[pick % len(self.draws)]
        )

    def witness(self, key: str) -> tuple[User | None, str]:
        if key == "none":
            return None, ""
        if key == "wrong password":
            return self.users["prescriber"], "not-the-password"
        return self.users[key], self.password

    def balances(self) -> dict[int, Decimal]:
        return dict(Container.objects.filter(pk__in=self.pks).values_list("pk", "remaining_ml"))

    def attempt(
        self,
        operation: Callable[[], Any],
        changes: dict[int, Decimal],
        *,
        must_fail: bool = False,
        must_succeed: bool = False,
    ) -> Any:
        """Run one service call; refused, it changed nothing on the register; accepted,
        the containers changed by `changes`."""
        entries = LedgerEntry.objects.count()
        before = self.balances()
        try:
            result = operation()
        except (ValidationError, PermissionDenied) as refused:
            assert not must_succeed, f"refused: {refused}"
            assert LedgerEntry.objects.count() == entries
            assert self.balances() == before
            return None
        assert not must_fail, "accepted an operation that must be refused"
        self.changed = True
        for pk, change in changes.items():
            self.expected[pk] += change
        return result

    # --- rules ---------------------------------------------------------------------------

    @rule(pick=PICK, spec=AMOUNTS)
    def draw_for_a_session(self, pick: int, spec: tuple[str, Any]) -> None:
        container = self.container(pick)
        session = self.sessions.get(container.product.drug) or self.sessions["ketamine"]
        amount = _resolve(spec, container.remaining_ml)
        usable = (
            container.location_id == session.location_id
            and container.status in (Container.Status.SEALED, Container.Status.OPEN)
            and container.expires_on >= self.today
            and container.product.drug == ("esketamine" if session.is_esketamine else "ketamine")
        )
        entry = self.attempt(
            lambda: services.draw_for_session(
                actor=self.users["nurse"], session=session, container=container, amount_ml=amount
            ),
            {container.pk: -amount},
            must_fail=amount <= 0 or amount > container.remaining_ml,
            must_succeed=usable and 0 < amount <= container.remaining_ml,
        )
        if entry is not None:
            self.draws.append(entry.pk)

    @rule(pick=PICK, amount=st.decimals(min_value=Decimal("0.1"), max_value=2, places=2))
    def draw_a_dose(self, pick: int, amount: Decimal) -> None:
        """The usual draw (more often than the random one, which often takes too much)."""
        self.draw_for_a_session(pick, ("ml", amount))

    @precondition(lambda self: self.draws)
    @rule(
        pick=PICK,
        share=st.sampled_from(["quarter", "half", "all"]),
        key=st.sampled_from(["prescriber", "director"]),
    )
    def account_for_a_draw(self, pick: int, share: str, key: str) -> None:
        """The usual end of a session: part given, the rest wasted with a witness."""
        self.administer(pick, ("of", share))
        self.waste(pick, ("of", "all"), key)

    @precondition(lambda self: self.draws)
    @rule(pick=PICK, spec=AMOUNTS)
    def administer(self, pick: int, spec: tuple[str, Any]) -> None:
        draw = self.draw(pick)
        open_ml = services.draw_unaccounted_ml(draw)
        amount = _resolve(spec, open_ml)
        self.attempt(
            lambda: services.administer(actor=self.users["nurse"], draw=draw, amount_ml=amount),
            {},
            must_fail=amount <= 0 or amount > open_ml,
            must_succeed=0 < amount <= open_ml and not draw.reversed_by.exists(),
        )

    @precondition(lambda self: self.draws)
    @rule(pick=PICK, spec=AMOUNTS, key=WITNESS)
    def waste(self, pick: int, spec: tuple[str, Any], key: str) -> None:
        draw = self.draw(pick)
        open_ml = services.draw_unaccounted_ml(draw)
        amount = _resolve(spec, open_ml)
        witness, password = self.witness(key)
        self.attempt(
            lambda: services.waste(
                actor=self.users["nurse"],
                draw=draw,
                amount_ml=amount,
                witness=witness,
                witness_password=password,
            ),
            {},
            must_fail=amount <= 0 or amount > open_ml or key in ("nurse", "none", "wrong password"),
        )

    @precondition(lambda self: self.draws)
    @rule(pick=PICK, spec=AMOUNTS, key=WITNESS)
    def return_to_stock(self, pick: int, spec: tuple[str, Any], key: str) -> None:
        draw = self.draw(pick)
        open_ml = services.draw_unaccounted_ml(draw)
        amount = _resolve(spec, open_ml)
        witness, password = self.witness(key)
        self.attempt(
            lambda: services.return_to_stock(
                actor=self.users["nurse"],
                draw=draw,
                amount_ml=amount,
                witness=witness,
                witness_password=password,
            ),
            {draw.container_id: amount},
            must_fail=amount <= 0 or amount > open_ml or key in ("nurse", "none", "wrong password"),
        )

    @rule(pick=PICK)
    def correct_an_earlier_entry(self, pick: int) -> None:
        entries = list(
            LedgerEntry.objects.filter(container_id__in=self.pks)
            .select_related("container", "location")
            .order_by("pk")
        )
        entry = entries[pick % len(entries)]
        self.attempt(
            lambda: services.correction(
                actor=self.users["director"], entry=entry, reason="entered in error"
            ),
            {entry.container_id: -entry.container_change_ml},
            must_fail=entry.kind in (EntryKind.CORRECTION, EntryKind.COUNT)
            or entry.reversed_by.exists(),
        )

    @rule(pick=PICK, key=TRANSFER_WITNESS)
    def transfer_to_the_other_location(self, pick: int, key: str) -> None:
        container = self.container(pick)
        home, away = self.context["locations"]
        target = away if container.location_id == home.pk else home
        witness, password = self.witness(key)
        self.attempt(
            lambda: services.transfer(
                actor=self.users["director"],
                container=container,
                to_location=target,
                witness=witness,
                witness_password=password,
            ),
            {},
            must_fail=container.remaining_ml <= 0 or key in ("director", "none", "wrong password"),
        )

    @rule(pick=PICK, spec=AMOUNTS, pair=WITNESS_PAIRS)
    def destroy(self, pick: int, spec: tuple[str, Any], pair: tuple[str, str]) -> None:
        first, second = pair
        container = self.container(pick)
        amount = _resolve(spec, container.remaining_ml)
        witnesses = [self.witness(first), self.witness(second)]
        self.attempt(
            lambda: services.destroy(
                actor=self.users["director"],
                container=container,
                amount_ml=amount,
                method="rendered non-retrievable",
                witnesses=witnesses,
            ),
            {container.pk: -amount},
            must_fail=amount <= 0 or amount > container.remaining_ml or first == second,
        )

    @rule(pick=PICK, spec=AMOUNTS)
    def loss(self, pick: int, spec: tuple[str, Any]) -> None:
        container = self.container(pick)
        amount = _resolve(spec, container.remaining_ml)
        self.attempt(
            lambda: services.loss_report(
                actor=self.users["director"],
                location=container.location,
                kind=LossReport.Kind.LOSS,
                discovered_at=timezone.now(),
                description="Vial broken in the med room.",
                losses=[(container, amount)],
            ),
            {container.pk: -amount},
            must_fail=amount <= 0 or amount > container.remaining_ml,
        )

    # --- what must always hold ------------------------------------------------------------

    @invariant()
    def the_register_is_consistent(self) -> None:
        """Checked at the start and after every accepted operation (a refused one is
        checked in `attempt` to have changed nothing)."""
        if not self.changed:
            return
        self.changed = False
        self.balances_are_the_ledger()
        # What of each draw is not yet given, wasted or returned, counted here directly.
        accounted = dict(
            LedgerEntry.objects.filter(draw_id__in=self.draws, reversed_by__isnull=True)
            .exclude(kind=EntryKind.CORRECTION)
            .values("draw")
            .annotate(total=Sum("amount_ml"))
            .values_list("draw", "total")
        )
        # The draws the database keeps as open (register/triggers.py) are exactly these.
        kept_open = set(
            OpenDraw.objects.filter(draw_id__in=self.draws).values_list("draw_id", flat=True)
        )
        reversed_draws = set(
            LedgerEntry.objects.filter(reverses_id__in=self.draws).values_list(
                "reverses_id", flat=True
            )
        )
        for draw in LedgerEntry.objects.filter(pk__in=self.draws):
            open_ml = draw.amount_ml - Decimal(accounted.get(draw.pk) or 0).quantize(MILLI)
            assert open_ml >= 0, f"draw {draw.pk} over-accounted by {-open_ml} mL"
            assert services.draw_unaccounted_ml(draw) == open_ml
            is_open = open_ml > UNACCOUNTED_NOISE_ML and draw.pk not in reversed_draws
            assert (draw.pk in kept_open) == is_open, (draw.pk, open_ml, kept_open)
        report = services.ledger_verify()
        assert report.ok, report

    def balances_are_the_ledger(self) -> None:
        sums = dict(
            LedgerEntry.objects.values("container")
            .annotate(total=Sum("container_change_ml"))
            .values_list("container", "total")
        )
        last_pks = LedgerEntry.objects.values("container").annotate(last=Max("pk")).values("last")
        last = dict(
            LedgerEntry.objects.filter(pk__in=last_pks).values_list("container", "balance_after_ml")
        )
        for pk, remaining, initial in Container.objects.values_list(
            "pk", "remaining_ml", "initial_ml"
        ):
            # SQLite sums decimals in floating point: compare to the 0.001 mL stored.
            total = Decimal(sums[pk]).quantize(MILLI)
            assert remaining == total, f"container {pk}: {remaining} mL, ledger {total} mL"
            assert 0 <= remaining <= initial, f"container {pk}: {remaining} mL"
            assert last[pk] == remaining, f"container {pk}: last entry says {last[pk]} mL"
            if pk in self.expected:
                expected = self.expected[pk]
                assert remaining == expected, f"container {pk}: {remaining}, not {expected} mL"


SETTINGS = settings(
    deadline=None,
    stateful_step_count=20,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _run(context: dict[str, Any], max_examples: int) -> None:
    machine = type("Machine", (RegisterMachine,), {"context": context})
    run_state_machine_as_test(machine, settings=settings(SETTINGS, max_examples=max_examples))


def test_random_operations_keep_the_register_balanced(clinic: dict[str, Any]) -> None:
    session = prechecked(clinic)  # once: it creates a course
    # Received once; each example starts from them as received (its savepoint rolls back).
    chosen = ketamine_vials(clinic, count=3) + ketamine_vials(
        clinic, count=1, location=clinic["boise"]
    )

    users = {key: clinic[key] for key in ("nurse", "prescriber", "director")}
    users["other_nurse"] = clinic["nurse_boise"]
    _run(
        {
            "users": users,
            "password": PASSWORD,
            "sessions": {"ketamine": session},
            "locations": (clinic["slc"], clinic["boise"]),
            "containers": lambda: [Container.objects.get(pk=c.pk) for c in chosen],
        },
        max_examples=45,
    )


def test_random_operations_on_the_demo_register_keep_it_balanced() -> None:
    seed_demo(patients=12)
    home, away = Location.objects.order_by("pk")[:2]
    users = {
        key: User.objects.get(username=name)
        for key, name in (
            ("nurse", "nurse"),
            ("prescriber", "prescriber"),
            ("director", "director"),
            ("other_nurse", "nurse.boise"),
        )
    }
    sessions = {}
    for session in TreatmentSession.objects.filter(location=home).order_by("-scheduled_at"):
        drug = "esketamine" if session.is_esketamine else "ketamine"
        if session.status != SessionStatus.SIGNED:
            sessions.setdefault(drug, session)
    sessions.setdefault(
        "ketamine", TreatmentSession.objects.filter(location=home, route="iv_ketamine").first()
    )
    # The demo's opened vials, a sealed vial of each product and the transferred one.
    chosen = list(Container.objects.filter(status=Container.Status.OPEN).order_by("label"))
    for product_id in Container.objects.values_list("product", flat=True).distinct():
        chosen += list(
            Container.objects.filter(product_id=product_id, status=Container.Status.SEALED)
            .order_by("label")
            .exclude(pk__in=[c.pk for c in chosen])[:1]
        )
    chosen += list(Container.objects.filter(location=away, receipt__location=home))
    _run(
        {
            "users": users,
            "password": DEMO_PASSWORD,
            "sessions": sessions,
            "locations": (home, away),
            "containers": lambda: [Container.objects.get(pk=c.pk) for c in chosen],
        },
        max_examples=10,
    )
