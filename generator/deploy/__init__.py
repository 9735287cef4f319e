"""Deploying built dashboards and alert rules to Grafana: read, plan, apply.

    plan.py         pure: normalize live and generated JSON, the marker, classify
    store.py        what both ways of talking to Grafana provide (folders, reads, saves)
    legacy.py       the legacy /api path (Grafana 10.4-13)
    apis.py         the /apis path (Grafana 12-13): list pages, dry-run saves
    datasources.py  the Graphite data sources of dashboards and rules, checked before any write
    apply.py        carry out a plan on N threads; re-read and re-plan after a 409/412
    rules_plan.py   pure: the alert rules' marker, normalization and plan, per rule group
    rules_run.py    read, plan and write the alert rules, one whole-group PUT per group
    run.py          choose the path from GET /apis; the deploy and diff runs, rules included

Works on JSON dicts only: nothing here imports `queuedash.authoring` or
`queuedash.compile` (data flows one way: definitions -> model -> JSON ->
deploy). Talks to Grafana through `queuedash.grafana`. Never prints.
"""
