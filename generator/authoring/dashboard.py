"""Assembling a dashboard: what a definition in dashboards/ calls last.

Takes a name (the dashboard's identity), a title, rows of panels and
variables; lays the panels out, derives the uid from the identity and applies
the settings every dashboard shares (tags, time range, refresh).

Imports `identity`, `layout`, `model`, `settings`, `text`.
"""

from __future__ import annotations

from grafanalib.core import Templating, Time

from queuedash.identity import make_uid
from queuedash.authoring.layout import Row, place
from queuedash.authoring.model import Dashboard
from queuedash.settings import Settings
from queuedash.authoring.text import render


def dashboard(settings: Settings, *, name: str, title: str, rows: list[Row], variables=(),
              description: str = "", tags=(), links=()) -> Dashboard:
    options = settings.dashboards
    return Dashboard(
        title=title,
        name=name,
        uid=make_uid(f"{options.uid_prefix}-{name}"),
        description=description,
        panels=place(rows),
        templating=Templating(list=list(variables)),
        tags=sorted(set(options.tags) | set(tags)),
        links=list(links),
        time=Time(options.time_from, "now"),
        refresh=options.refresh,
    )


def description(settings: Settings, summary: str, source: str, per_queue: bool = True) -> str:
    """The standard dashboard description: what it shows, where it comes from,
    and (for dashboards about queues) which queues it covers."""
    return render(
        "dashboard-description.md.j2",
        summary=summary,
        source=source,
        naming=settings.naming,
        queues=[q.name for q in settings.queues] if per_queue else [],
    )
