"""Plug-in points: how a domain app shows itself on pages owned by a lower layer or by the
composition layer, without those pages importing it (docs/architecture.md).

An app registers, from its AppConfig.ready() (its own `plugins` module):

- **chart tabs**: a tab on the patient chart (the chart head is the patients app's, which
  sits below every domain app);
- **home panels**: a panel on the staff home pages (the `home` app composes them);
- **page panels**: a panel on another app's page at a named slot (the treatment course page
  shows the measures app's "response so far");
- **audit labels**: how the audit log names the app's object types;
- **warm-ups**: work a server process does once, as it starts, so that the first person
  to ask does not wait for it (the outcomes app fills its cache); `ketaclinic serve` runs
  them in each worker (operations/gunicorn_config.py).

The registries are filled once, at app loading, and only read afterwards. This module
imports nothing of ketaclinic's, so every app may import it (the platform layer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest

__all__ = [
    "ChartTab",
    "HomePanel",
    "PagePanel",
    "PanelContent",
    "audit_label",
    "chart_tabs",
    "home_panels",
    "page_panels",
    "panels_shown",
    "register_audit_labels",
    "register_chart_tab",
    "register_home_panel",
    "register_page_panel",
    "register_warm_up",
    "render_page_panels",
    "warm_ups",
]


@dataclass(frozen=True)
class ChartTab:
    """A tab of the patient chart: `url_name` takes the patient's id; shown to users with
    `capability` (None: everyone who may open the chart). Tabs are shown by `order`."""

    key: str
    label: str
    url_name: str
    order: int
    capability: str | None = None


@dataclass
class PanelContent:
    """What a panel shows: the template context, and the patients and other records it
    names (`shown`, e.g. {"patient_ids": {...}}), which the page records as read."""

    context: dict[str, Any]
    shown: dict[str, set[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class HomePanel:
    """A panel of the staff home pages. `content(user, location_id)` returns its
    PanelContent, or None to leave it out; `roles` (role values) and `capability` say for
    whom. `wide` panels take the whole row; others share it two by two."""

    key: str
    template: str
    order: int
    content: Callable[[Any, int | None], PanelContent | None]
    roles: frozenset[str] | None = None
    capability: str | None = None
    wide: bool = False

    def shown_to(self, user: Any) -> bool:
        if self.roles is not None and str(user.role) not in self.roles:
            return False
        return self.capability is None or user.can(self.capability)


@dataclass(frozen=True)
class PagePanel:
    """A panel on another app's page, at the named `slot`: `content(request, **objects)`
    gets the page's objects (for a course page: patient and course)."""

    key: str
    slot: str
    template: str
    order: int
    content: Callable[..., PanelContent | None]
    capability: str | None = None


_chart_tabs: dict[str, ChartTab] = {}
_home_panels: dict[str, HomePanel] = {}
_page_panels: dict[str, PagePanel] = {}
_audit_labels: dict[str, str] = {}
_warm_ups: dict[str, Callable[[], str]] = {}


def _register(registry: dict[str, Any], key: str, item: Any) -> None:
    existing = registry.get(key)
    if existing is not None and existing != item:
        raise ValueError(f"{key!r} is registered twice, differently")
    registry[key] = item


def register_chart_tab(tab: ChartTab) -> None:
    _register(_chart_tabs, tab.key, tab)


def register_home_panel(panel: HomePanel) -> None:
    _register(_home_panels, panel.key, panel)


def register_page_panel(panel: PagePanel) -> None:
    _register(_page_panels, f"{panel.slot}:{panel.key}", panel)


def register_audit_labels(labels: dict[str, str]) -> None:
    for object_type, label in labels.items():
        _register(_audit_labels, object_type, label)


def register_warm_up(key: str, warm_up: Callable[[], str]) -> None:
    """`warm_up()` does its work and says in a few words what it did (for the log)."""
    _register(_warm_ups, key, warm_up)


def warm_ups() -> list[tuple[str, Callable[[], str]]]:
    """Every warm-up, by key."""
    return sorted(_warm_ups.items())


def chart_tabs(user: Any) -> list[ChartTab]:
    """The chart's tabs this user sees, in order."""
    return sorted(
        (t for t in _chart_tabs.values() if t.capability is None or user.can(t.capability)),
        key=lambda t: (t.order, t.key),
    )


def home_panels(user: Any) -> list[HomePanel]:
    """The home panels for this user, in order."""
    return sorted(
        (p for p in _home_panels.values() if p.shown_to(user)), key=lambda p: (p.order, p.key)
    )


def page_panels(slot: str, user: Any) -> list[PagePanel]:
    """The panels registered at `slot` that this user may see, in order."""
    return sorted(
        (
            p
            for p in _page_panels.values()
            if p.slot == slot and (p.capability is None or user.can(p.capability))
        ),
        key=lambda p: (p.order, p.key),
    )


def render_page_panels(
    slot: str, request: HttpRequest, **objects: Any
) -> Iterable[tuple[PagePanel, PanelContent]]:
    """Each visible panel at `slot` with its content (panels with nothing to show left
    out)."""
    for panel in page_panels(slot, request.user):
        content = panel.content(request, **objects)
        if content is not None:
            yield panel, content


def panels_shown(panels: Iterable[tuple[PagePanel, PanelContent]]) -> dict[str, list[int]]:
    """What a page's panels name, merged by kind (e.g. {"referral_ids": [...]}) for the
    page's audit entry."""
    shown: dict[str, set[int]] = {}
    for _panel, content in panels:
        for kind, ids in content.shown.items():
            shown.setdefault(kind, set()).update(ids)
    return {kind: sorted(ids) for kind, ids in shown.items() if ids}


def audit_label(object_type: str) -> str:
    """The audit log's name for an object type (the type itself when none is registered)."""
    return _audit_labels.get(object_type, object_type.replace("_", " "))
