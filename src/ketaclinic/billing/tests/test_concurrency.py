"""Two payments at once cannot overpay: the account row is locked while the balance is
checked (real threads, real connections; SQLite queues writers with IMMEDIATE
transactions, PostgreSQL with select_for_update)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from ketaclinic.billing import selectors, services

pytestmark = pytest.mark.django_db(transaction=True)

JOIN_TIMEOUT_SECONDS = 120


def test_two_payments_at_once_do_not_overpay(billed: dict[str, Any]) -> None:
    patient = billed["patient_slc"]
    estimate = services.estimate_send(
        actor=billed["coordinator"],
        estimate=services.estimate_prepare(
            actor=billed["coordinator"], patient=patient, course=billed["course_slc"]
        ),
    )
    services.estimate_accept(actor=billed["patient_user"], estimate=estimate)
    # Each is more than half the balance: only one of the two may go through.
    amount = estimate.total / 2 + 1
    barrier = threading.Barrier(2)
    results: list[str] = []

    def pay() -> None:
        try:
            barrier.wait()
            services.payment_record(
                actor=billed["coordinator"], patient=patient, amount=amount, method="cash"
            )
            results.append("ok")
        except ValidationError:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=pay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_SECONDS)
    assert sorted(results) == ["ok", "refused"]
    totals = selectors.account_totals(selectors.account_of(patient))
    assert totals["payments"] == amount
    assert totals["balance"] == estimate.total - amount
