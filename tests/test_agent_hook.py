"""The in-worker signal hook (queuedash.agent.hook), in process.

Tasks run eagerly (`task.apply()`: the same tracer, the same prerun/postrun/
failure/retry signals as in a worker), the other signals are sent as Celery
sends them, and the metrics go over real UDP to a socket of the test. A real
worker subprocess with the hook is exercised by tests/test_agent_e2e.py.
"""

from __future__ import annotations

import socket
import time

import pytest
from agent_support import wait_for
from celery import Celery, signals
from celery.exceptions import Reject

from queuedash.naming.metrics import Naming
from queuedash.agent import hook as hook_module
from queuedash.agent.client import UDPClient




@pytest.fixture
def app():
    app = Celery("hooked", set_as_current=False)
    app.conf.task_store_eager_result = False

    @app.task(name="proj.ok", shared=False)
    def ok():
        return 1

    @app.task(name="proj.boom", shared=False)
    def boom():
        raise ValueError("boom")

    @app.task(name="proj.reject", shared=False)
    def reject():
        raise Reject("no", requeue=False)

    @app.task(name="proj.slow", shared=False)
    def slow():
        time.sleep(0.05)

    return app


@pytest.fixture
def hooked(app, capture):
    hook = hook_module.install(app, statsd_host="127.0.0.1", statsd_port=capture.port)
    yield hook
    hook_module.uninstall()


def delivered(**headers):
    """apply() options giving the request a worker's delivery info (the queue's routing key)."""
    return {"routing_key": "emails", "exchange": "", "headers": headers}


def counts_settled(capture, expected: dict):
    return wait_for(lambda: {k: v for k, v in capture.counters().items() if k in expected} == expected, 3)


def test_a_task_counts_started_and_succeeded_and_times_its_runtime_and_wait(app, hooked, capture):
    app.tasks["proj.slow"].apply(**delivered(queuedash_sent=time.time() - 2.0))
    expected = {"celery.tasks.emails.proj_slow.started": 1, "celery.tasks.emails.proj_slow.succeeded": 1}
    assert counts_settled(capture, expected)
    timers = {line.partition(":")[0]: float(line.split(":")[1].split("|")[0])
              for line in capture.snapshot() if line.endswith("|ms")}
    assert 50 <= timers["celery.tasks.emails.proj_slow.runtime"] < 1000
    assert 2000 <= timers["celery.tasks.emails.proj_slow.wait"] < 3000


def test_failures_and_rejections_count_once(app, hooked, capture):
    app.tasks["proj.boom"].apply(**delivered())
    app.tasks["proj.reject"].apply(**delivered())
    expected = {"celery.tasks.emails.proj_boom.failed": 1, "celery.tasks.emails.proj_reject.rejected": 1}
    assert counts_settled(capture, expected)
    assert "celery.tasks.emails.proj_reject.failed" not in capture.counters()


def test_publishing_counts_sent_and_stamps_the_send_time(app, hooked, capture):
    headers = {"task": "proj.ok", "id": "x"}
    signals.before_task_publish.send(sender="proj.ok", body=(), exchange="", routing_key="emails", headers=headers,
                                     properties={}, declare=[], retry_policy=None)
    signals.after_task_publish.send(sender="proj.ok", body=(), exchange="", routing_key="emails", headers=headers)
    assert isinstance(headers[hook_module.SENT_HEADER], float)
    assert counts_settled(capture, {"celery.tasks.emails.proj_ok.sent": 1})


def test_received_revoked_and_unknown_from_the_worker_main_process(app, hooked, capture):
    class Request:
        def __init__(self, task_id):
            self.id, self.name, self.task = task_id, "proj.ok", app.tasks["proj.ok"]
            self.delivery_info = {"routing_key": "emails"}

    class Context:
        def __init__(self, task_id):
            self.id, self.task, self.delivery_info = task_id, "proj.ok", {"routing_key": "emails"}

    class Message:
        delivery_info = {"routing_key": "emails"}

    signals.task_received.send(sender=None, request=Request("seen"))
    signals.task_revoked.send(sender=app.tasks["proj.ok"], request=Context("seen"), terminated=True)
    # Revoked before it arrived: Celery discards it without task_received.
    signals.task_revoked.send(sender=app.tasks["proj.ok"], request=Context("never-seen"), terminated=False)
    signals.task_unknown.send(sender=None, message=Message(), exc=KeyError(), name="proj.gone", id="g")
    expected = {"celery.tasks.emails.proj_ok.received": 2, "celery.tasks.emails.proj_ok.revoked": 2,
                "celery.tasks.emails.proj_gone.unknown": 1}
    assert counts_settled(capture, expected)


def test_other_apps_tasks_are_not_counted(hooked, capture):
    other = Celery("other", set_as_current=False)

    @other.task(name="other.ok", shared=False)
    def ok():
        return 1

    ok.apply(**delivered())
    time.sleep(0.2)
    assert not [k for k in capture.counters() if "other_ok" in k]


def test_the_hook_never_raises_into_a_task(app, capture):
    class Broken:
        def pipeline(self):
            raise RuntimeError("statsd client broken")

        def incr(self, *args, **kwargs):
            raise RuntimeError("statsd client broken")

    hook = hook_module.install(app, client=Broken(), naming=Naming())
    try:
        result = app.tasks["proj.ok"].apply(**delivered())
        assert result.get() == 1
        assert hook.errors >= 2
    finally:
        hook_module.uninstall()


def test_an_unresolvable_statsd_host_does_not_stop_the_app(app, caplog):
    assert hook_module.install(app, statsd_host="no-such-host.invalid", statsd_port=8125) is None
    assert "not installed" in caplog.text
    assert app.tasks["proj.ok"].apply().get() == 1


def test_settings_come_from_the_environment(app, capture, monkeypatch):
    monkeypatch.setenv("QUEUEDASH_STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("QUEUEDASH_STATSD_PORT", str(capture.port))
    monkeypatch.setenv("QUEUEDASH_PREFIX", "jobs.celery")
    hook_module.install(app)
    try:
        app.tasks["proj.ok"].apply(**delivered())
        assert counts_settled(capture, {"jobs.celery.tasks.emails.proj_ok.succeeded": 1})
    finally:
        hook_module.uninstall()


def test_statsd_down_drops_the_packets_and_the_tasks_run_on(app):
    """Nobody listens on the port: every packet is sent or counted as dropped, nothing raises, nothing
    piles up. What StatsD down costs a task is measured by benchmarks/agent_benchmark.py."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = UDPClient("127.0.0.1", closed_port)
    runs = 50
    hook = hook_module.install(app, client=client, naming=Naming())
    try:
        results = [app.tasks["proj.ok"].apply(**delivered()).get() for _ in range(runs)]
    finally:
        hook_module.uninstall()
    assert results == [1] * runs
    assert hook.errors == 0
    # started and succeeded at least, per task; the kernel refuses some sends (ICMP port unreachable)
    assert client.sent_packets + client.dropped_packets >= 2 * runs


def test_per_host_keys_name_the_host_given(app, capture):
    hook_module.install(app, statsd_host="127.0.0.1", statsd_port=capture.port, per_host=True,
                        host="web-1.example.com")
    try:
        app.tasks["proj.ok"].apply(**delivered())
        assert counts_settled(capture, {"celery.tasks.emails.proj_ok.web-1_example_com.succeeded": 1})
    finally:
        hook_module.uninstall()


def test_per_host_keys_name_the_workers_host_once_it_starts(app, capture, monkeypatch):
    monkeypatch.setenv("QUEUEDASH_PER_HOST", "true")
    monkeypatch.delenv("QUEUEDASH_HOST", raising=False)
    hook = hook_module.install(app, statsd_host="127.0.0.1", statsd_port=capture.port)
    try:
        assert hook.keys.naming.per_host
        app.tasks["proj.ok"].apply(**delivered())      # a producer: this machine's host name
        machine = socket.gethostname().replace(".", "_")
        assert counts_settled(capture, {f"celery.tasks.emails.proj_ok.{machine}.succeeded": 1})
        # `celery worker` sends celeryd_init with its node name before the pool starts
        signals.celeryd_init.send(sender="w1@host-a.example", instance=None, conf=app.conf, options={})
        app.tasks["proj.ok"].apply(**delivered())
        assert counts_settled(capture, {"celery.tasks.emails.proj_ok.host-a_example.succeeded": 1})
    finally:
        hook_module.uninstall()


def test_the_host_given_wins_over_the_workers_node_name(app, capture, monkeypatch):
    monkeypatch.setenv("QUEUEDASH_HOST", "pod-7")
    hook = hook_module.install(app, statsd_host="127.0.0.1", statsd_port=capture.port, per_host=True)
    try:
        signals.celeryd_init.send(sender="w1@host-a", instance=None, conf=app.conf, options={})
        app.tasks["proj.ok"].apply(**delivered())
        assert counts_settled(capture, {"celery.tasks.emails.proj_ok.pod-7.succeeded": 1})
        assert hook.host == "pod-7"
    finally:
        hook_module.uninstall()


def test_without_the_per_host_mode_no_key_names_a_host(app, hooked, capture):
    signals.celeryd_init.send(sender="w1@host-a", instance=None, conf=app.conf, options={})
    app.tasks["proj.ok"].apply(**delivered())
    assert counts_settled(capture, {"celery.tasks.emails.proj_ok.succeeded": 1})
    assert not any("host-a" in key for key in capture.keys())


def test_a_per_host_setting_that_is_not_a_boolean_is_refused(app, monkeypatch):
    from queuedash.errors import SettingsError

    monkeypatch.setenv("QUEUEDASH_PER_HOST", "sometimes")
    with pytest.raises(SettingsError, match="QUEUEDASH_PER_HOST: expected true or false, got 'sometimes'"):
        hook_module.install(app, statsd_host="127.0.0.1", statsd_port=9)
