"""The agent's documented entry point, one line in a Celery app::

    import queuedash_agent
    queuedash_agent.install(app, statsd_host="statsd", statsd_port=8125)

The code lives in `queuedash.agent`; this module only gives it the name the
README promises. It imports nothing heavy: `install` loads Celery's signal
hook on first use.
"""

from queuedash.agent import install

__all__ = ["install"]
