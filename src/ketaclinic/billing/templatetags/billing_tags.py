"""Money as the clinic writes it: $1,234.50 (a credit: -$12.00)."""

from __future__ import annotations

from decimal import Decimal

from django import template

from ketaclinic.billing.superbill import money_text

register = template.Library()


@register.filter
def money(amount: Decimal | None) -> str:
    return money_text(Decimal(amount or 0))
