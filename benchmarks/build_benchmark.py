"""`queuedash build` end to end, today's path against the build as it was, in the same run.

For 10, 100, 300 and 1,000 queues (every fourth with overrides: title, team,
runbook, must-be-zero list, expected workers) a settings file is written and
`queuedash build` runs on it in a fresh Python process: once through the
build as it was before it was made faster (`baseline_build.install()`: the
stdlib's indenting encoder, the old model -> JSON walk, the old lint, a second
``__init__`` per placed panel, the garbage collector running throughout) and
once as it is, alternately, best of `--repeat` runs each. Reported per size:
wall-clock and CPU seconds of each, the speed-up, the output's size, and
whether the two outputs are byte-identical.

Then the per-queue dashboards of `--compare-size` queues against grafanalib's
own serialisers (`DashboardEncoder` and each class's stock ``to_json_data``):
output size and how many pass Grafana's JSON Schemas (tests/schemas, strict).

Exit 1 unless every output is identical to the baseline's, the largest size
builds in at most half the baseline's time, and every queuedash dashboard is
schema-valid. The bar is on CPU seconds (user + system of the build
process): on a machine shared with other work, wall-clock time measures the
neighbours too; both are shown. Usage:

    python benchmarks/build_benchmark.py [--sizes 10,100,300,1000] [--repeat 5] [--compare-size 100]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
PATHS = ("baseline", "current")


def settings_text(count: int) -> str:
    """A settings file with `count` queues, every fourth with overrides."""
    names = [f"queue.{index:04d}" for index in range(count)]
    lines = ["queues = [" + ", ".join(f'"{name}"' for name in names) + "]", 'output = "build/dashboards"']
    for index in range(0, count, 4):
        lines += [
            f'[queue."{names[index]}"]',
            f'title = "Queue {index}"',
            f'team = "team-{index % 7}"',
            f'runbook_url = "https://runbooks.example.invalid/{index}"',
            'must_be_zero = ["failed", "rejected", "backlog", "no_consumers"]',
            "expected_workers = 2",
        ]
    return "\n".join(lines) + "\n"


def child(path: str, settings: str, out: str) -> None:
    """In a fresh process: `queuedash build`, through the baseline or the current path."""
    if path == "baseline":
        sys.path.insert(0, str(HERE))
        import baseline_build

        baseline_build.install()
    from queuedash.cli.main import cli

    cli.main(["--config", settings, "build", "--out", out, "--rules-out", out + ".rules"], prog_name="queuedash")


def digest(folder: Path) -> tuple[str, int]:
    """A hash of every file's name and bytes, and the total size."""
    total = hashlib.sha256()
    size = 0
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        total.update(path.name.encode() + b"\0" + data + b"\0")
        size += len(data)
    return total.hexdigest(), size


def run_once(path: str, settings: Path, out: Path) -> tuple[float, float, str, int]:
    """(wall s, CPU s, output digest, output bytes) of one `queuedash build` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--child", path, str(settings), str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rules = Path(f"{out}.rules")
    (dashboards, size), (alert_rules, rules_size) = digest(out), digest(rules)
    shutil.rmtree(out)
    shutil.rmtree(rules)
    return wall, cpu, dashboards + alert_rules, size + rules_size


def measure(count: int, repeat: int, work: Path) -> dict:
    settings = work / f"queues-{count}.toml"
    settings.write_text(settings_text(count), encoding="utf-8")
    best = {path: (float("inf"), float("inf")) for path in PATHS}
    digests = set()
    size = 0
    for _ in range(repeat):
        for path in PATHS:  # alternately, so a busy moment of the machine hits both
            wall, cpu, found, size = run_once(path, settings, work / f"out-{path}")
            best[path] = (min(best[path][0], wall), min(best[path][1], cpu))
            digests.add(found)
    return {"queues": count, "baseline": best["baseline"], "current": best["current"],
            "identical": len(digests) == 1, "bytes": size}


# -- against grafanalib's own serialisers --------------------------------------------------


def against_grafanalib(count: int, work: Path) -> dict:
    from grafanalib import core
    from grafanalib._gen import DashboardEncoder

    sys.path.insert(0, str(REPO / "tests"))
    from test_schema import schema_errors  # the suite's strict schema check

    from queuedash.compile.encode import encode
    from queuedash.settings import load

    class StockEncoder(DashboardEncoder):
        """grafanalib's encoder, using grafanalib's own serialiser of each object."""

        def default(self, obj):
            for cls in type(obj).__mro__:
                if cls.__module__ == core.__name__ and "to_json_data" in cls.__dict__:
                    return cls.to_json_data(obj)
            return super().default(obj)

    def stock_errors(text: str) -> list:
        try:
            return schema_errors(json.loads(text))
        except (KeyError, TypeError, AttributeError) as exc:  # stock output lacks keys the check expects
            return [repr(exc)]

    spec = importlib.util.spec_from_file_location("bench_queues", REPO / "dashboards" / "queues.py")
    definition = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(definition)
    path = work / f"compare-{count}.toml"
    path.write_text(settings_text(count), encoding="utf-8")
    models = definition.build(load(path))
    ours = [encode(model) for model in models]
    stock = [json.dumps(model, cls=StockEncoder, sort_keys=True, indent=2) + "\n" for model in models]
    return {
        "queues": count,
        "ours_bytes": sum(len(text.encode()) for text in ours),
        "stock_bytes": sum(len(text.encode()) for text in stock),
        "ours_valid": sum(not schema_errors(json.loads(text)) for text in ours),
        "stock_valid": sum(not stock_errors(text) for text in stock),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,300,1000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compare-size", type=int, default=100)
    parser.add_argument("--child", nargs=3, metavar=("PATH", "SETTINGS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    failed = False
    with tempfile.TemporaryDirectory(prefix="queuedash-bench-") as work:
        rows = [measure(int(size), args.repeat, Path(work)) for size in args.sizes.split(",")]
        compared = against_grafanalib(args.compare_size, Path(work))
    print("| queues | baseline CPU (s) | now CPU (s) | speed-up | baseline wall (s) | now wall (s) | output MB "
          "| identical |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        (base_wall, base_cpu), (now_wall, now_cpu) = r["baseline"], r["current"]
        print(f"| {r['queues']:,} | {base_cpu:.2f} | {now_cpu:.2f} | {base_cpu / now_cpu:.2f}x | {base_wall:.2f} "
              f"| {now_wall:.2f} | {r['bytes'] / 1e6:.2f} | {'yes' if r['identical'] else 'NO'} |")
        failed |= not r["identical"]
    largest = max(rows, key=lambda r: r["queues"])
    if largest["current"][1] > largest["baseline"][1] / 2:
        print(f"{largest['queues']:,} queues build in more than half the baseline's CPU time", file=sys.stderr)
        failed = True

    c = compared
    print()
    print("| queues | queuedash MB | grafanalib MB | smaller by | schema-valid: queuedash / grafanalib |")
    print("|---:|---:|---:|---:|---|")
    print(f"| {c['queues']:,} | {c['ours_bytes'] / 1e6:.2f} | {c['stock_bytes'] / 1e6:.2f} "
          f"| {100 * (1 - c['ours_bytes'] / c['stock_bytes']):.0f} % "
          f"| {c['ours_valid']}/{c['queues']} / {c['stock_valid']}/{c['queues']} |")
    failed |= c["ours_valid"] != c["queues"] or c["ours_bytes"] >= c["stock_bytes"]
    if failed:
        print("the bar is not met: output differs, the build is not twice as fast, or JSON is invalid",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
