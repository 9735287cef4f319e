"""queuedash: Grafana dashboards for Celery task queues, as code.

The package is the library behind the `queuedash` command. Data flows one way:
definitions (dashboards/*.py) -> model (grafanalib objects) -> JSON -> deploy.
"""
