"""Graphite targets as Grafana's Graphite datasource handles them: ``#A`` references.

A panel's target may reference another target of the same panel (``#A``);
Grafana expands the references before sending the query, with its own two-pass
algorithm. The authoring presets use it to write ``targetFull``, the lint to
check it, and `check` to send what Grafana sends (contract §9.2).

Imports nothing from the package.
"""

from __future__ import annotations

import re

REFERENCE = re.compile(r"#([A-Z])")


def expand_references(targets: list[tuple[str, str]]) -> dict[str, str]:
    """Expand ``#X`` references exactly as Grafana's Graphite datasource does.

    `targets` is ``[(refId, target), ...]`` in panel order. Pass 1 records each
    target; pass 2, in order, replaces ``#X`` by the recorded text of X, updating
    the table as it goes, so a reference to an earlier target sees its expanded
    text and unknown references are left as they are (contract §9.2).
    """
    table = {ref: text for ref, text in targets if text}
    for ref, text in targets:
        if not text:
            continue
        table[ref] = REFERENCE.sub(lambda m: table.get(m.group(1), m.group(0)), table[ref])
    return table


def references_in(target: str) -> list[str]:
    return REFERENCE.findall(target)
