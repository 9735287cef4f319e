"""The reference configuration of fleet/: what a team copies is what the suite starts.

stack/reference.py makes each file local (addresses, the step) and keeps everything else; these
tests hold that, and that a reference whose shape changed is refused rather than half applied.
The servers started from these files are exercised by tests/test_fleet.py and the session's StatsD.
"""

from __future__ import annotations

import shutil

import pytest

from stack import reference
from stack.base import StackError

ADDRESSES = {"address", "port", "mgmt_address", "mgmt_port", "graphiteHost", "graphitePort"}


@pytest.mark.parametrize("name", ["statsd.js", "statsd-node.js"])
def test_a_statsd_starts_with_every_setting_of_the_reference_but_its_addresses_and_step(name):
    original = reference.read_js_object(name)
    local = reference.statsd_config(name, listen=("127.0.0.1", 1), mgmt=("127.0.0.1", 2), carbon=("127.0.0.1", 3),
                                    flush_ms=1000, legacy_namespace=True)
    assert (local["port"], local["mgmt_port"], local["graphitePort"], local["flushInterval"]) == (1, 2, 3, 1000)
    kept = set(original) - ADDRESSES - {"flushInterval"}
    assert {k: local[k] for k in kept} == {k: original[k] for k in kept}
    assert set(local) == set(original)


def test_the_statsd_settings_the_panels_and_the_proxy_need_are_in_the_reference():
    central = reference.read_js_object("statsd.js")
    # the worker panels: a gone worker's gauges leave within 3 flushes; counters send 0 when idle
    assert (central["deleteGauges"], central["gaugesMaxTTL"], central["deleteIdleStats"]) == (True, 3, False)
    # StatsD's cluster proxy requires it of its nodes (docs/cluster_proxy.md); it deletes idle
    # gauges too (deleteGauges), which then stay 3 flushes, as on the central StatsD
    node = reference.read_js_object("statsd-node.js")
    assert (node["deleteIdleStats"], node["gaugesMaxTTL"]) == (True, 3) and "deleteGauges" not in node
    for name in ("statsd.js", "statsd-node.js"):
        config = reference.read_js_object(name)
        assert config["graphite"] == {"legacyNamespace": True} and config["percentThreshold"] == [90]
        assert config["flushInterval"] == 10000


def test_the_proxy_keeps_its_ring_settings_and_gets_the_nodes_in_order():
    local = reference.proxy_config("statsd-proxy.js", listen=("127.0.0.1", 1), mgmt=("127.0.0.1", 2),
                                   nodes=[("127.0.0.1", 10, 11), ("127.0.0.1", 20, 21)])
    assert local["nodes"] == [{"host": "127.0.0.1", "port": 10, "adminport": 11},
                              {"host": "127.0.0.1", "port": 20, "adminport": 21}]
    original = reference.read_js_object("statsd-proxy.js")
    for key in ("server", "checkInterval", "cacheSize", "forkCount"):
        assert local[key] == original[key]
    with pytest.raises(StackError, match="names 2 nodes, the test starts 3"):
        reference.proxy_config("statsd-proxy.js", listen=("h", 1), mgmt=("h", 2), nodes=[("h", 1, 2)] * 3)


def test_the_relay_listens_and_routes_where_given_keeping_the_instances_and_the_rest():
    text = reference.relay_config("carbon-c-relay.conf", listen=("127.0.0.1", 7000),
                                  members=[("127.0.0.1", 7001), ("127.0.0.1", 7002)])
    assert "127.0.0.1:7000 proto tcp" in text
    assert "127.0.0.1:7001=a" in text and "127.0.0.1:7002=b" in text
    assert "example.internal" not in text
    original = reference.path("carbon-c-relay.conf").read_text()
    assert "carbon_ch" in text and text.count("\n") == original.count("\n")
    with pytest.raises(StackError, match="2 cluster members, the test starts 1"):
        reference.relay_config("carbon-c-relay.conf", listen=("h", 1), members=[("h", 2)])


def test_the_front_graphite_web_asks_the_storage_nodes_given_and_fails_rather_than_show_part():
    settings = reference.graphite_cluster_settings("graphite-web-cluster.py", [("127.0.0.1", 8081), ("127.0.0.1", 8082)])
    assert settings["CLUSTER_SERVERS"] == ["127.0.0.1:8081", "127.0.0.1:8082"]
    assert settings["STORE_FAIL_ON_ERROR"] is True


def test_carbon_gets_the_tests_retentions_and_the_reference_aggregation():
    schemas = reference.storage_schemas("1s:6h,1m:7d")
    assert "retentions = 1s:6h,1m:7d" in schemas and "10s:1d" not in schemas
    assert "[legacy_counts]\npattern = ^stats_counts\\.\nxFilesFactor = 0\naggregationMethod = sum" in \
        reference.storage_aggregation()


def test_a_reference_that_changed_shape_is_refused(tmp_path, monkeypatch):
    fleet = tmp_path / "fleet"
    shutil.copytree(reference.FLEET, fleet)
    monkeypatch.setattr(reference, "FLEET", fleet)
    (fleet / "statsd.js").write_text((fleet / "statsd.js").read_text().replace('"mgmt_port"', '"managementPort"'))
    with pytest.raises(StackError, match="has no mgmt_port"):
        reference.statsd_config("statsd.js", listen=("h", 1), mgmt=("h", 2), carbon=("h", 3), flush_ms=1000,
                                legacy_namespace=True)
    (fleet / "statsd-node.js").write_text("{ not json")
    with pytest.raises(StackError, match="not JSON"):
        reference.read_js_object("statsd-node.js")
    (fleet / "storage-schemas.conf").unlink()
    with pytest.raises(StackError, match="is missing"):
        reference.storage_schemas("1s:1d")
