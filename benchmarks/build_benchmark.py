"""Build time and output size for 10, 100, 300 and 1,000 queues, one dashboard per queue.

For each size the same model objects (the per-queue dashboards of
dashboards/queues.py, one per queue of an inventory of that size) are encoded
two ways in the same run:

* queuedash: `queuedash.compile.encode` (model -> plain dicts -> sorted, indented JSON);
* the baseline: grafanalib's own encoder (`DashboardEncoder`, calling each
  class's stock grafanalib `to_json_data`), with the same sort_keys/indent.

Reported per size: model construction time (shared by both), encoding time of
each, total bytes of each, and how many of each pass Grafana's JSON Schemas
(tests/schemas, strict). Best of `--repeat` runs. Usage:

    python benchmarks/build_benchmark.py [--sizes 10,100,300,1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from grafanalib import core
from grafanalib._gen import DashboardEncoder

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from queuedash.compile.encode import encode  # noqa: E402
from queuedash.settings import DashboardOptions, Queue, load  # noqa: E402
from test_schema import schema_errors  # noqa: E402  (the suite's strict schema check)


def load_definition(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "dashboards" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class StockEncoder(DashboardEncoder):
    """grafanalib's encoder, using grafanalib's own serialiser of each object."""

    def default(self, obj):
        for cls in type(obj).__mro__:
            if cls.__module__ == core.__name__ and "to_json_data" in cls.__dict__:
                return cls.to_json_data(obj)
        return super().default(obj)


def stock_encode(dashboard) -> str:
    return json.dumps(dashboard, cls=StockEncoder, sort_keys=True, indent=2) + "\n"


def ours_encode(dashboard) -> str:
    return encode(dashboard)


def inventory(base, count: int):
    """Settings with `count` queues, every fourth with overrides (team, runbook, links)."""
    queues = []
    for index in range(count):
        name = f"queue.{index:04d}"
        if index % 4 == 0:
            queues.append(Queue(name=name, title=f"Queue {index}", team=f"team-{index % 7}",
                                runbook_url=f"https://runbooks.example.invalid/{index}",
                                must_be_zero=("failed", "rejected", "backlog", "no_consumers"), expected_workers=2))
        else:
            queues.append(Queue(name=name))
    return replace(base, queues=tuple(queues))


def build_models(settings, definition):
    return definition.build(settings)


def best(function, repeat: int):
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def measure(count: int, repeat: int) -> dict:
    settings = inventory(replace(load(REPO / "queuedash.toml"), dashboards=DashboardOptions()), count)
    definition = load_definition("queues")
    construct_s, models = best(lambda: build_models(settings, definition), repeat)
    ours_s, ours = best(lambda: [ours_encode(m) for m in models], repeat)
    stock_s, stock = best(lambda: [stock_encode(m) for m in models], repeat)
    return {
        "queues": count,
        "construct_s": construct_s,
        "ours_s": ours_s,
        "stock_s": stock_s,
        "ours_bytes": sum(len(t.encode()) for t in ours),
        "stock_bytes": sum(len(t.encode()) for t in stock),
        "ours_valid": sum(not schema_errors(json.loads(t)) for t in ours),
        "stock_valid": sum(not _stock_schema_errors(t) for t in stock),
    }


def _stock_schema_errors(text: str) -> list:
    try:
        return schema_errors(json.loads(text))
    except (KeyError, TypeError, AttributeError) as exc:  # stock output lacks keys our check expects
        return [repr(exc)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,300,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows = [measure(int(size), args.repeat) for size in args.sizes.split(",")]
    print("| queues | model (s) | queuedash encode (s) | grafanalib encode (s) | speed-up | queuedash MB | grafanalib MB "
          "| smaller by | schema-valid: queuedash / grafanalib |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    failed = False
    for r in rows:
        print(f"| {r['queues']:,} | {r['construct_s']:.3f} | {r['ours_s']:.3f} | {r['stock_s']:.3f} "
              f"| {r['stock_s'] / r['ours_s']:.2f}x | {r['ours_bytes'] / 1e6:.2f} | {r['stock_bytes'] / 1e6:.2f} "
              f"| {100 * (1 - r['ours_bytes'] / r['stock_bytes']):.0f} % "
              f"| {r['ours_valid']}/{r['queues']} / {r['stock_valid']}/{r['queues']} |")
        failed |= r["ours_s"] > r["stock_s"] or r["ours_bytes"] >= r["stock_bytes"] or r["ours_valid"] != r["queues"]
    if failed:
        print("queuedash's encoding is slower, larger or not schema-valid: the bar is not met", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
