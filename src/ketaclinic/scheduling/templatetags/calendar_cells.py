"""The day grid's free and closed quarter hours, rendered in Python: a day has hundreds of
them, and the template language made them most of the page's time."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from ketaclinic.scheduling.calendar.selectors import Column

register = template.Library()


@register.simple_tag(takes_context=True)
def day_cells(context: dict[str, Any], column: Column, grid_column: int) -> SafeString:
    """One column's empty cells: links to the booking form (prefilled with the location,
    the start and the chair, room or video) where booking is possible, else plain cells."""
    book_url, location = context["book_url"], context["location"]
    can_book = context["can_book"]
    if column.resource is not None:
        extra = f"&resource={column.resource.pk}"
    else:
        extra = "&telehealth=1" if column.telehealth else ""
    parts = []
    for cell in column.cells:
        slot = cell.slot
        hour = " cal-hour" if slot.on_hour else ""
        if cell.bookable and can_book:
            parts.append(
                format_html(
                    '<a class="cal-free gr-{} gc-{}{}" href="{}"><span class="visually-hidden">'
                    "Book {} at </span>{}</a>",
                    cell.row + 2,
                    grid_column,
                    hour,
                    f"{book_url}?location={location.pk}&start={slot.param}{extra}",
                    column.title,
                    slot.label,
                )
            )
        else:
            if slot.is_past:
                state = " cal-past"
            elif not slot.is_open and not column.telehealth:
                state = " cal-closed"
            else:
                state = ""
            parts.append(
                format_html(
                    '<div class="cal-cell gr-{} gc-{}{}{}"></div>',
                    cell.row + 2,
                    grid_column,
                    hour,
                    state,
                )
            )
    return mark_safe("".join(parts))  # noqa: S308 - every part came through format_html
