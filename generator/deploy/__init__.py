"""Deploying built dashboards to Grafana: read, plan, apply.

    plan.py   pure: normalize live and generated JSON, compare, classify
    apply.py  ensure folders, read live dashboards, carry out a plan on N threads
    run.py    the deploy and diff runs over a connected client

Works on JSON dicts only: nothing here imports `queuedash.authoring` or
`queuedash.compile` (data flows one way: definitions -> model -> JSON ->
deploy). Talks to Grafana through `queuedash.grafana`. Never prints.
"""
