"""The broker poller against real brokers: Redis (priority lists, global_keyprefix,
queues found from kombu's bindings) and RabbitMQ (management API: ready,
unacked, consumers). Messages are put there by kombu, the way Celery does.
"""

from __future__ import annotations

import pytest
from agent_support import wait_for
from kombu import Connection, Consumer, Exchange, Queue

from queuedash.cli.main import cli
from queuedash.naming.metrics import Naming
from queuedash.agent.client import BufferedClient, UDPClient
from queuedash.agent.keys import Keys
from queuedash.agent.poller import BrokerError, Poller, RabbitQueues, RedisQueues, broker_source, redact




def publish(url: str, queue: str, priorities, transport_options=None) -> None:
    with Connection(url, transport_options=transport_options or {}) as connection:
        producer = connection.Producer()
        declared = Queue(queue, Exchange(queue, type="direct"), routing_key=queue, max_priority=9)
        for priority in priorities:
            producer.publish({"n": priority}, exchange=declared.exchange, routing_key=queue, declare=[declared],
                             priority=priority, retry=True)


def test_redis_length_sums_the_priority_lists_under_the_global_keyprefix(redis_server, capture):
    url = redis_server.url.rsplit("/", 1)[0] + "/5"
    publish(url, "prio", [0, 0, 3, 6, 9, 9], {"global_keyprefix": "acme:"})
    source = RedisQueues(url, ["prio", "absent"], global_keyprefix="acme:", inspect_timeout=0)
    plain = source._client.llen("acme:prio")
    assert 0 < plain < 6, "kombu put every message in the base list: the test proves nothing"
    poller = Poller(source, Keys(Naming()), BufferedClient(UDPClient("127.0.0.1", capture.port)))
    assert poller.poll_once() == {"prio": {"length": 6}, "absent": {"length": 0}}
    assert wait_for(lambda: capture.gauges() == {"celery.broker.prio.length": 6, "celery.broker.absent.length": 0}, 3)
    # Without the prefix the same queue is empty: the prefix is really used.
    assert RedisQueues(url, ["prio"], inspect_timeout=0).measure() == {"prio": {"length": 0}}


def test_redis_queues_are_found_in_kombus_bindings(redis_server):
    url = redis_server.url.rsplit("/", 1)[0] + "/6"
    publish(url, "found-a", [0])
    publish(url, "found.b", [0, 0])
    assert RedisQueues(url, inspect_timeout=0).measure() == {"found-a": {"length": 1}, "found.b": {"length": 2}}


def test_redis_down_is_a_broker_error(redis_server):
    source = RedisQueues("redis://127.0.0.1:1/0", ["q"], timeout=1.0, inspect_timeout=0)
    with pytest.raises(BrokerError, match="redis"):
        source.measure()


def test_poll_once_from_the_command_line(redis_server, capture, runner, in_tmp):
    url = redis_server.url.rsplit("/", 1)[0] + "/7"
    publish(url, "cli", [0, 9])
    result = runner.invoke(cli, ["agent", "poll", "--prefix", "jobs", "--broker", url, "--queue", "cli", "--once",
                                 "--statsd-port", str(capture.port)])
    assert result.exit_code == 0, result.output
    # No worker runs: none says it consumes the queue, a known zero.
    assert result.output == "cli  consumers=0  length=2\n"
    assert wait_for(lambda: capture.gauges() == {"jobs.broker.cli.length": 2, "jobs.broker.cli.consumers": 0}, 3)


def test_rabbitmq_ready_unacked_and_consumers(rabbitmq, capture):
    publish(rabbitmq.amqp_url, "work", [0] * 5)
    with Connection(rabbitmq.amqp_url) as connection:
        channel = connection.channel()
        channel.basic_qos(0, 2, False)            # a consumer holding 2 messages unacked
        held = []
        with Consumer(channel, [Queue("work", Exchange("work", type="direct"), routing_key="work",
                                      max_priority=9)], callbacks=[lambda body, message: held.append(message)]):
            connection.drain_events(timeout=5)
            connection.drain_events(timeout=5)
            source = broker_source(rabbitmq.amqp_url, ["work", "absent"], management_url=rabbitmq.management_url)
            assert isinstance(source, RabbitQueues)
            wanted = {"work": {"length": 3, "unacked": 2, "consumers": 1},
                      "absent": {"length": 0, "unacked": 0, "consumers": 0}}
            # The management API refreshes its figures every few seconds.
            assert wait_for(lambda: source.measure() == wanted, timeout=30, interval=0.5), source.measure()
            poller = Poller(source, Keys(Naming()), BufferedClient(UDPClient("127.0.0.1", capture.port)))
            poller.poll_once()
            assert wait_for(lambda: capture.gauges().get("celery.broker.work.consumers") == 1, 3)
            assert capture.gauges()["celery.broker.work.length"] == 3
            assert capture.gauges()["celery.broker.work.unacked"] == 2
        # Every queue but Celery's and RabbitMQ's own, when none is named.
        listed = broker_source(rabbitmq.amqp_url, management_url=rabbitmq.management_url).measure()
        assert "work" in listed and not [q for q in listed if q.startswith(("amq.", "celeryev."))]


def test_rabbitmq_wrong_credentials_is_a_broker_error(rabbitmq):
    url = rabbitmq.amqp_url.replace("guest:guest", "guest:wrong")
    with pytest.raises(BrokerError, match="HTTP 401"):
        broker_source(url, management_url=rabbitmq.management_url).measure()


def test_broker_urls():
    assert redact("amqp://user:secret@host:5672//") == "amqp://user:***@host:5672//"
    assert RabbitQueues("amqp://u:p@rabbit:5672//").vhost == "/"
    assert RabbitQueues("amqp://u:p@rabbit:5672/prod").endpoint.startswith("http://rabbit:15672/api/queues/prod?")
    assert RabbitQueues("amqp://rabbit").vhost == "/"
    with pytest.raises(ValueError, match="sqs"):
        broker_source("sqs://")
