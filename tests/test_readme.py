"""The README cannot drift from the code.

* Every environment variable the code reads is named in the README and in the `--help` of the
  command that reads it (click shows an option's variable beside it).
* The example outputs that come from the default settings (the quick start's build, the `check`
  example against tests/feeder.py's data) are what the code prints now. They are regenerated,
  never hand-edited: `UPDATE_README=1 .venv/bin/python -m pytest tests/test_readme.py` rewrites
  the blocks marked `<!-- output of ... -->`, like the golden files.
* Each message of the troubleshooting section is still one the code says: its words, between
  the parts that vary, are found in the code's own strings.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import feeder
from queuedash.cli.main import cli
from queuedash.naming.metrics import Naming
from realstack import flush_seconds, graphite_retention, running
from stack.servers import Graphite

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CODE = [*(REPO / "generator").rglob("*.py"), *(REPO / "queuedash_agent").rglob("*.py")]
UPDATE = os.environ.get("UPDATE_README") == "1"
VARIABLE = re.compile(r"(?:QUEUEDASH|GRAFANA|CELERY)_[A-Z0-9_]+")

#: Read with os.environ, not through an option: the commands whose --help must name them. The
#: in-worker hook is no command: `queuedash agent --help`, which introduces it, names what it reads.
READ_DIRECTLY = {"GRAFANA_TOKEN": (("deploy",), ("diff",)), "GRAFANA_USER": (("deploy",), ("diff",)),
                 "GRAFANA_PASSWORD": (("deploy",), ("diff",)), "QUEUEDASH_HOST": (("agent",),)}


def variables_read_by_the_code() -> set[str]:
    """Every string in the code that is an environment variable's whole name."""
    found = set()
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and VARIABLE.fullmatch(node.value):
                found.add(node.value)
    return found


def commands(group=cli, prefix=()):
    for name, command in group.commands.items():
        path = prefix + (name,)
        if hasattr(command, "commands"):
            yield from commands(command, path)
        else:
            yield path, command


def help_of(path) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def option_variables(command) -> set[str]:
    found = set()
    for param in command.params:
        envvar = getattr(param, "envvar", None)
        found.update([envvar] if isinstance(envvar, str) else envvar or [])
    return found


def test_every_environment_variable_is_in_the_readme_and_in_its_commands_help():
    read = variables_read_by_the_code()
    assert {"GRAFANA_TOKEN", "QUEUEDASH_GRAPHITE_URL", "QUEUEDASH_DEFINITION_TIMEOUT"} <= read
    readme = README.read_text()
    assert sorted(v for v in read if v not in readme) == [], "not named in the README"

    helps = {path: help_of(path) for path, _ in commands()}
    helps[()] = help_of(())  # the group's own options
    options = {path: option_variables(command) for path, command in commands()}
    options[()] = option_variables(cli)
    for variable in sorted(read):
        readers = [path for path, names in options.items() if variable in names]
        readers += READ_DIRECTLY.get(variable, [])
        assert readers, f"{variable} is read by the code, but no command has it as an option or says so"
        for path in readers:
            shown = helps[path] if path in helps else help_of(path)
            assert variable in shown, f"`queuedash {' '.join(path)} --help` does not name {variable}"


# ----- example outputs ------------------------------------------------------------------------

def block_after(marker: str) -> tuple[int, int]:
    """(start, end) line indexes of the code block following the `<!-- output of MARKER` comment,
    without its fences."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"<!-- output of {marker}"))
    assert lines[start + 1].startswith("```")
    end = next(i for i in range(start + 2, len(lines)) if lines[i] == "```")
    return start + 2, end


def readme_block(marker: str) -> list[str]:
    start, end = block_after(marker)
    return README.read_text().splitlines()[start:end]


def rewrite_block(marker: str, new: list[str]) -> None:
    lines = README.read_text().splitlines()
    start, end = block_after(marker)
    README.write_text("\n".join(lines[:start] + new + lines[end:]) + "\n")


def test_the_quick_start_shows_what_the_default_settings_build(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = tmp_path / "dashboards"
    result = CliRunner().invoke(cli, ["build", "--out", str(out)])
    assert result.exit_code == 0, result.output
    # The dashboards in build/dashboards, their alert rules beside them in build/rules.
    printed = ["$ make dashboards"] + result.output.replace(str(tmp_path), "build").splitlines()
    if UPDATE:
        rewrite_block("`queuedash build`", printed)
    assert readme_block("`queuedash build`") == printed


def excerpt(lines: list[str]) -> list[str]:
    """What the README shows of a long check: the first lines, every line that is not OK, the
    first repeated panel, and the summary, with `...` for what is left out."""
    keep = set(range(4)) | {len(lines) - 1}
    keep |= {i for i, line in enumerate(lines) if not line.startswith("OK ")}
    keep |= {next(i for i, line in enumerate(lines) if "(queue=" in line)}
    shown, last = [], -1
    for index in sorted(keep):
        if index != last + 1:
            shown.append("...")
        shown.append(lines[index])
        last = index
    return shown


@pytest.fixture(scope="module")
def private_graphite():
    """A Graphite of this module's own: the session's also holds what the StatsD of other
    tests writes under the default naming (its own `statsd.*` counters among them)."""
    with running(Graphite(retention=graphite_retention(flush_seconds()))) as server:
        yield server


@pytest.mark.realstack
@pytest.mark.graphite
def test_the_check_example_is_what_the_default_settings_check(private_graphite, monkeypatch):
    """Against the feeder's data, seeded under the default naming."""
    graphite = private_graphite
    feeder.seed(graphite, Naming())
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli, ["check", "--graphite", graphite.web_url], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = result.output.replace(graphite.web_url, "http://graphite:8080").splitlines()
    if UPDATE:
        rewrite_block("`queuedash check`", ["$ queuedash check --graphite http://graphite:8080"] + excerpt(lines))
    shown = readme_block("`queuedash check`")
    assert shown[0] == "$ queuedash check --graphite http://graphite:8080"
    assert shown[-1] == lines[-1]
    position = 0
    for line in shown[1:]:  # every line shown is the code's, in order
        if line == "...":
            continue
        assert line in lines[position:], f"the README shows a line the default settings do not print: {line}"
        position = lines.index(line, position) + 1


# ----- troubleshooting -------------------------------------------------------------------------

#: What varies in a message, beside `<...>`: a variable's name, a key path, an HTTP status, the
#: operating system's words. The words around them are queuedash's own.
VARYING = re.compile(r"<[^>]*>|\.\.\.|\b[A-Z][A-Z0-9_]{3,}\b|\b[a-z_]+(?:\.(?:<[^>]*>|[a-z_]+))+|HTTP \d+"
                     r"|\[Errno [^\]]*\][^(`]*|SyntaxError")
#: Where a message is made of several strings of the code (a key, then what is wrong with it).
JOINTS = re.compile(r": | / | \(|\)")


def code_strings() -> str:
    found = []
    for path in CODE + [REPO / "dashboards" / "queues.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(node.value)
    return "\x00".join(found)


def troubleshooting_messages() -> list[str]:
    text = README.read_text()
    section = text[text.index("\n## Troubleshooting\n"):text.index("\n## Writing a definition\n")]
    messages = []
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line[2:line.index(" | ", 2)]
            messages += re.findall(r"`+ ?(.+?) ?`+(?= / |$| with)", first_cell)
    return messages


def test_every_message_of_the_troubleshooting_section_is_still_the_codes():
    corpus = code_strings()
    messages = troubleshooting_messages()
    assert len(messages) > 60
    missing = []
    for message in messages:
        for piece in JOINTS.split(VARYING.sub(": ", message)):
            piece = piece.strip(" '\"`()[];:,.?")
            if len(piece) >= 5 and piece not in corpus:
                missing.append(f"{piece!r} (of {message!r})")
    assert missing == [], "the README's troubleshooting says what the code no longer does"
