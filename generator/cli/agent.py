"""`queuedash agent`: the event monitor and the broker poller, as commands.

The only module of the agent that prints (its --help) or sets up logging; the
agent itself logs through `logging`, one line per thing that happened, to
stderr. Celery is imported inside the commands, so `queuedash --help` and
`queuedash build` never pay for it.

The agent's settings are its own options and their environment variables,
never the settings file in the working directory: the key prefix is
``--prefix`` / QUEUEDASH_PREFIX (default ``celery``), which must match the
dashboards' ``[naming] prefix``.

Imports click, `queuedash.naming.metrics`, and (inside the commands, so that
`queuedash --help` never pays for Celery) `queuedash.agent`.
"""

from __future__ import annotations

import dataclasses
import logging
import sys

import click

from queuedash.errors import NamingError
from queuedash.naming.metrics import Naming

#: The longest wait or interval an option takes: the clock's arithmetic overflows somewhere
#: past 1e10 s (an "inf" would be a traceback), and nobody means more than a day.
DAY = 86_400.0
#: The longest a task or a silent worker is remembered.
MONTH = 30 * DAY

STATSD_OPTIONS = [
    click.option("--prefix", "naming", envvar="QUEUEDASH_PREFIX", show_envvar=True, default=Naming.prefix, show_default=True, metavar="PREFIX",
                 callback=lambda ctx, param, value: _naming(value),
                 help="StatsD key prefix: the dashboards' [naming] prefix."),
    click.option("--statsd-host", envvar="QUEUEDASH_STATSD_HOST", show_envvar=True, default="127.0.0.1", show_default=True,
                 metavar="HOST", help="StatsD server (UDP). Resolved once, at start."),
    click.option("--statsd-port", envvar="QUEUEDASH_STATSD_PORT", show_envvar=True, default=8125, show_default=True, type=int,
                 metavar="PORT", help="StatsD UDP port."),
    click.option("--log-level", envvar="QUEUEDASH_LOG_LEVEL", show_envvar=True, default="info", show_default=True,
                 type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
                 help="Log lines on stderr from this level up."),
]

BROKER_OPTIONS = [
    click.option("--broker", "broker_url", envvar=["QUEUEDASH_BROKER_URL", "CELERY_BROKER_URL"], show_envvar=True, required=True,
                 metavar="URL", help="Celery broker: redis://host:6379/0 or amqp://user:pass@host:5672//."),
    click.option("--queue", "queues", multiple=True, metavar="NAME",
                 help="A queue to poll (repeat for several). Default: every queue the broker has "
                      "(Redis: from kombu's bindings; RabbitMQ: every non-internal queue)."),
    click.option("--management-url", envvar="QUEUEDASH_RABBITMQ_MANAGEMENT_URL", show_envvar=True, metavar="URL",
                 help="RabbitMQ management API. Default: http://<broker host>:15672, the broker's credentials."),
    click.option("--global-keyprefix", envvar="QUEUEDASH_REDIS_GLOBAL_KEYPREFIX", show_envvar=True, default="", metavar="PREFIX",
                 help="Redis: the transport's global_keyprefix (broker_transport_options)."),
    click.option("--priority-steps", default="0,3,6,9", show_default=True, metavar="N,N,...",
                 help="Redis: kombu's priority_steps; a queue's length sums its list and one per step."),
    click.option("--inspect-timeout", default=1.0, show_default=True, type=click.FloatRange(0, DAY), metavar="SECONDS",
                 help="Redis: how long the workers have to say which queues they consume (Celery's "
                      "inspect active_queues), on every poll; 0 sends no consumer count (unknown)."),
]


def _options(options):
    def apply(function):
        for option in reversed(options):
            function = option(function)
        return function
    return apply


def _naming(prefix: str) -> Naming:
    try:
        return Naming(prefix=prefix)
    except NamingError as exc:
        raise click.BadParameter(str(exc), param_hint="--prefix") from None


def require_agent_extra() -> None:
    """The agent commands need Celery and the StatsD client (the agent extra)."""
    for name in ("celery", "statsd"):
        try:
            __import__(name)
        except ModuleNotFoundError:
            raise click.ClickException(f"queuedash agent needs {name}, which comes with the agent extra: "
                                       "pip install 'queuedash[cli,agent]'") from None


def setup_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _steps(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected whole numbers separated by commas, got {text!r}",
                                 param_hint="--priority-steps") from None


def _client(host: str, port: int):
    from queuedash.agent.client import BufferedClient, UDPClient

    try:
        return BufferedClient(UDPClient(host, port))
    except OSError as exc:
        raise click.ClickException(str(exc)) from None


def _source(broker_url, queues, management_url, global_keyprefix, priority_steps, inspect_timeout):
    from queuedash.agent.poller import broker_source

    try:
        return broker_source(broker_url, queues, management_url=management_url,
                             global_keyprefix=global_keyprefix, priority_steps=_steps(priority_steps),
                             inspect_timeout=inspect_timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--broker") from None


def _load_app(spec: str | None, broker_url: str):
    """The user's Celery app (MODULE:ATTR), or a bare one for the broker."""
    from celery import Celery

    if not spec:
        return Celery("queuedash-agent", broker=broker_url, set_as_current=False)
    from celery.utils.imports import symbol_by_name

    try:
        app = symbol_by_name(spec.replace(":", ".", 1) if ":" in spec else spec)
    except (ImportError, AttributeError, ValueError, TypeError) as exc:  # TypeError: a relative name such as "."
        raise click.BadParameter(f"cannot import {spec!r}: {exc}", param_hint="--app") from None
    if not hasattr(app, "conf") or not hasattr(app, "events"):
        raise click.BadParameter(f"{spec!r} is not a Celery app", param_hint="--app")
    return app


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def agent():
    """Send Celery metrics to StatsD under the dashboards' own names.

    Three sources: the in-worker signal hook (a line in your Celery app,
    `queuedash_agent.install(app)`), the event monitor (`agent events`, for
    workers you cannot change) and the broker poller (`agent poll`, or inside
    the monitor). Keys: <prefix>.tasks.<queue>.<task>.<state>, .runtime,
    .wait; <prefix>.broker.<queue>.length/.unacked/.consumers;
    <prefix>.workers.<host>.online/.active/.processed/.heartbeat_age.

    The hook reads QUEUEDASH_STATSD_HOST, QUEUEDASH_STATSD_PORT,
    QUEUEDASH_PREFIX, QUEUEDASH_PER_HOST (true/false: task keys carry the
    host, the dashboards' [naming] per_host) and QUEUEDASH_HOST (that host's
    name; default: the worker's node name, else the machine's).
    """


@agent.command()
@_options(BROKER_OPTIONS[:1])
@click.option("--app", "app_spec", envvar="QUEUEDASH_CELERY_APP", show_envvar=True, metavar="MODULE:ATTR",
              help="Your Celery app, for its task_routes (the queue of tasks whose task-sent was not seen).")
@click.option("--route", "routes", multiple=True, metavar="PATTERN=QUEUE",
              help="Task name glob -> queue, tried before the app's task_routes (repeat for several).")
@click.option("--default-queue", default="unknown", show_default=True, metavar="NAME",
              help="Queue of a task no task-sent event and no route names.")
@click.option("--max-tasks", default=10000, show_default=True, type=click.IntRange(1),
              help="Tasks remembered between their events (LRU): the monitor's memory bound.")
@click.option("--task-ttl", default=3600.0, show_default=True, type=click.FloatRange(1, MONTH),
              help="Seconds a task is remembered after its last event.")
@click.option("--heartbeat-interval", default=2.0, show_default=True, type=click.FloatRange(0.1, DAY),
              help="Worker heartbeat interval when a heartbeat does not say; offline after twice it.")
@click.option("--worker-expiry", default=300.0, show_default=True, type=click.FloatRange(1, MONTH),
              help="Seconds after its last heartbeat that a worker whose heartbeats stopped (no goodbye) stays "
                   "offline; then its gauges are no longer sent. A worker that says goodbye is gone at once.")
@click.option("--reconnect-max", default=30.0, show_default=True, type=click.FloatRange(0.1, DAY),
              help="Longest wait between two attempts to reach a lost broker (waits double from 1 s).")
@click.option("--poll-interval", default=10.0, show_default=True, type=click.FloatRange(0, DAY),
              help="Seconds between broker queue polls; 0 turns the poller off.")
@click.option("--per-host/--no-per-host", envvar="QUEUEDASH_PER_HOST", show_envvar=True, default=False, show_default=True,
              help="Task keys carry the host of the worker (or producer) each event comes from: the "
                   "dashboards' [naming] per_host, for a fleet with a StatsD per host.")
@_options(BROKER_OPTIONS[1:] + STATSD_OPTIONS)
def events(broker_url, app_spec, routes, default_queue, max_tasks, task_ttl, heartbeat_interval, worker_expiry,
           reconnect_max,
           poll_interval,
           per_host,
           queues, management_url, global_keyprefix, priority_steps, inspect_timeout, naming, statsd_host,
           statsd_port, log_level):
    """Turn Celery events into task counters, timers and worker gauges.

    Needs workers started with -E (task events); the queue of a task comes
    from its task-sent event when producers set task_send_sent_event = True,
    else from --route / the app's task_routes, else --default-queue. Worker
    gauges come from heartbeats. Also polls the broker's queues every
    --poll-interval seconds. Reconnects with backoff when the broker goes
    away; stops cleanly on SIGTERM or Ctrl-C.
    """
    require_agent_extra()
    from queuedash.agent.keys import Keys
    from queuedash.agent.lifecycle import Backoff, Stopper
    from queuedash.agent.monitor import Monitor
    from queuedash.agent.poller import Poller
    from queuedash.agent.routes import QueueResolver
    from queuedash.agent.translate import Translator

    setup_logging(log_level)
    keys = Keys(dataclasses.replace(naming, per_host=per_host))
    client = _client(statsd_host, statsd_port)
    app = _load_app(app_spec, broker_url)
    try:
        if app_spec:
            resolver = QueueResolver.from_app(app, routes, default_queue)
        else:
            resolver = QueueResolver(routes, (), default_queue)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--route") from None
    translator = Translator(keys, client, resolver, max_tasks=max_tasks, task_ttl=task_ttl,
                            heartbeat_interval=heartbeat_interval, worker_expiry=worker_expiry)
    poller = None
    if poll_interval > 0:
        source = _source(broker_url, queues, management_url, global_keyprefix, priority_steps, inspect_timeout)
        poller = Poller(source, keys, client, poll_interval)
    stopper = Stopper()
    stopper.handle_signals()
    logging.getLogger(__name__).info("sending to StatsD %s:%d with prefix %r%s", statsd_host, statsd_port,
                                     keys.naming.prefix, ", per host" if per_host else "")
    Monitor(app, broker_url, translator, client, poller=poller, stopper=stopper,
            backoff=Backoff(min(1.0, reconnect_max), reconnect_max)).run()
    client.close()


@agent.command()
@_options(BROKER_OPTIONS)
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(0.1, DAY),
              help="Seconds between polls (StatsD's flush interval is a good choice).")
@click.option("--once", is_flag=True, help="Poll once, print the figures, exit (1 if the broker cannot be asked).")
@_options(STATSD_OPTIONS)
def poll(broker_url, queues, management_url, global_keyprefix, priority_steps, inspect_timeout, interval, once,
         naming, statsd_host, statsd_port, log_level):
    """Send queue length, unacked and consumers per queue as gauges.

    Redis: the length sums the queue's list and its priority lists
    (<queue>\\x06\\x16<step>), with global_keyprefix; consumers are the
    workers that say they consume the queue (Celery's inspect
    active_queues); Redis has no per-queue unacked count. RabbitMQ: the
    management API's messages_ready, messages_unacknowledged and consumers.
    """
    require_agent_extra()
    from queuedash.agent.keys import Keys
    from queuedash.agent.lifecycle import Stopper
    from queuedash.agent.poller import BrokerError, Poller

    setup_logging(log_level)
    keys = Keys(naming)
    client = _client(statsd_host, statsd_port)
    source = _source(broker_url, queues, management_url, global_keyprefix, priority_steps, inspect_timeout)
    poller = Poller(source, keys, client, interval)
    try:
        if once:
            try:
                measured = poller.poll_once()
            except BrokerError as exc:
                raise click.ClickException(str(exc)) from None
            for queue, gauges in sorted(measured.items()):
                figures = "  ".join(f"{name}={value}" for name, value in sorted(gauges.items()))
                click.echo(f"{queue}  {figures}")
            return
        stopper = Stopper()
        stopper.handle_signals()
        logging.getLogger(__name__).info("polling %s every %g s", source.kind, interval)
        poller.run(stopper)
        logging.getLogger(__name__).info("stopped after %d polls", poller.polls)
    finally:
        source.close()
        client.close()
