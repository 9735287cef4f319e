"""Checking built dashboards against a real Graphite.

    evaluate.py  every target evaluated the way Grafana's Graphite datasource sends it
    discover.py  the queues Graphite has metrics for, against the inventory

Works on built JSON dicts, never on the model; talks to Graphite through
`queuedash.graphite`.
"""
