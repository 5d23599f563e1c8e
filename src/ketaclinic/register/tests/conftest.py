from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from ketaclinic.conftest import PASSWORD
from ketaclinic.register import services
from ketaclinic.register.models import Container, Product, Safe, Supplier


def ketamine_vials(clinic: dict[str, Any], count: int = 2, location: Any = None) -> list[Container]:
    """`count` sealed 10 mL vials of ketamine 50 mg/mL received at SLC (or `location`),
    checked by the director."""
    location = location or clinic["slc"]
    product, _ = Product.objects.get_or_create(
        ndc="0409-2051-05",
        defaults={
            "name": "Ketamine HCl injection 50 mg/mL, 10 mL vial",
            "drug": Product.Drug.KETAMINE,
            "form": Product.Form.VIAL,
            "strength_mg_per_ml": Decimal("50"),
            "container_volume_ml": Decimal("10"),
        },
    )
    supplier, _ = Supplier.objects.get_or_create(
        name="Mountain Medical Supply",
        defaults={"address": "100 Depot St, Salt Lake City, UT 84101", "dea_number": "PM1234563"},
    )
    safe, _ = Safe.objects.get_or_create(location=location, name="Med room safe")
    receipt = services.receipt_record(
        actor=clinic["nurse"] if location == clinic["slc"] else clinic["director"],
        location=location,
        supplier=supplier,
        invoice_number=f"INV-{Container.objects.count() + 1}",
        invoice_date=timezone.localdate(),
        lines=[
            services.ReceivedLine(
                product=product,
                lot_number="KT24A",
                expires_on=date(timezone.localdate().year + 2, 6, 30),
                containers=count,
            )
        ],
        checked_by=clinic["director"] if location == clinic["slc"] else clinic["nurse_boise"],
        checker_password=PASSWORD,
        safe=safe,
    )
    return list(receipt.containers.order_by("label"))


@pytest.fixture
def vials(clinic: dict[str, Any]) -> list[Container]:
    return ketamine_vials(clinic)
