"""queuedash's agent: Celery task, worker and broker metrics sent to StatsD under
exactly the names queuedash's dashboards query.

Three sources, one naming module (`queuedash.naming.metrics`):

* the in-worker signal hook, one line in a Celery app::

      import queuedash_agent
      queuedash_agent.install(app, statsd_host="statsd", statsd_port=8125)

* the event monitor, for workers whose code cannot change:
  ``queuedash agent events --broker URL``;
* the broker poller (queue length, unacked, consumers):
  ``queuedash agent poll --broker URL --queue NAME``, or inside the monitor.

The documented import is the top-level `queuedash_agent`, which re-exports
`install`. This module stays import-light (no Celery, no StatsD client):
`install` imports the hook on first use.

Module map: keys (metric names, from queuedash.naming.metrics), client (StatsD over
non-blocking UDP), hook (Celery signals), routes (task name -> queue),
translate (Celery events -> metrics, bounded memory), monitor (the event
receiver loop), poller (Redis / RabbitMQ queue gauges), lifecycle (stop
signal, backoff). The `agent` commands are in `queuedash.cli.agent`.

Imports `queuedash.naming` and `queuedash.errors` only from the rest of
queuedash, and none of the dashboard compiler's dependencies.
"""

from __future__ import annotations

__all__ = ["install"]


def install(app=None, **options):
    """Count and time every task of `app` in StatsD from Celery's signals.

    See `queuedash.agent.hook.install` for the options (statsd_host,
    statsd_port, prefix); they default to QUEUEDASH_STATSD_HOST,
    QUEUEDASH_STATSD_PORT and QUEUEDASH_PREFIX. Returns the installed hook.
    """
    from queuedash.agent.hook import install as install_hook

    return install_hook(app, **options)
