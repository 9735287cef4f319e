"""Authoring dashboards: what a definition in dashboards/ assembles.

    queries.py    Graphite query builders (backlog, rates, gauges), from `naming`
    model.py      grafanalib classes that emit current Grafana JSON
    panels.py     panel presets: where a panel's look is decided
    health.py     the "should be zero" panels for any set of queues
    variables.py  template variables
    layout.py     placement on the 24-column grid
    text.py       Jinja2 over templates/ (text only)
    dashboard.py  assembling a dashboard: uid, layout, shared settings

No I/O beyond reading templates; never prints.
"""
