"""Nothing a definition sets on the model is dropped without a word.

Every attrs field of every model class (and of the grafanalib objects their
fields hold by default: Repeat, Time, TimePicker, Templating, Annotations) is
set, one at a time, to a value other than its default. Either the value shows
up in the JSON, or construction fails with one line naming the class and the
field. The walk is generic: a field a future grafanalib adds is probed too, and
a field the walk cannot find a value for fails the test until one is given in
SAMPLES.
"""

from __future__ import annotations

import attr
import pytest
from grafanalib import core

from queuedash.authoring import model
from queuedash.compile.encode import plain
from queuedash.errors import DefinitionError

MODEL_CLASSES = sorted(
    (c for c in vars(model).values() if isinstance(c, type) and attr.has(c) and c.__module__ == model.__name__),
    key=lambda c: c.__name__,
)

#: Values for fields whose validator cannot be read (a plain function).
SAMPLES = {
    (core.Repeat, "maxPerRow"): 3,
}


def _validators(validator) -> list:
    """The simple validators inside `validator` (and_, optional unwrapped)."""
    if validator is None:
        return []
    if hasattr(validator, "_validators"):  # and_
        return [inner for part in validator._validators for inner in _validators(part)]
    if hasattr(validator, "validator") and not hasattr(validator, "member_validator"):  # optional
        return _validators(validator.validator)
    return [validator]


def _member_probes(owner, field, iterable_validator) -> list:
    """Non-empty lists for a field whose validator checks each member."""
    for member in _validators(iterable_validator.member_validator):
        if hasattr(member, "options"):
            return [[member.options[0]]]
        if hasattr(member, "type") and attr.has(member.type):
            return [[member.type()]]
    raise AssertionError(f"no probe value for {owner.__name__}.{field.name}: add one to SAMPLES")


def _probes(owner, field, current) -> list[tuple[str, object, object]]:
    """(label, value for the field, the part that must show in the JSON), each away from `current`."""
    name = field.name
    if (owner, name) in SAMPLES:
        return [(name, SAMPLES[owner, name], SAMPLES[owner, name])]
    if attr.has(type(current)):  # a grafanalib object: probe each of its own fields
        return [(f"{name}.{label}", attr.evolve(current, **{inner.name: value}), marker)
                for inner in attr.fields(type(current)) if inner.init
                for label, value, marker in _probes(type(current), inner, getattr(current, inner.name))]
    validators = _validators(field.validator)
    for validator in validators:
        if hasattr(validator, "options"):  # in_
            return [(name, option, option) for option in validator.options if option != current]
        if hasattr(validator, "member_validator"):  # deep_iterable
            return [(name, value, value) for value in _member_probes(owner, field, validator)]
    types = {getattr(v, "type", None) for v in validators}
    if isinstance(current, bool):
        value = not current
    elif isinstance(current, int) or (current is None and int in types):
        value = (current or 0) + 7
    elif isinstance(current, list):
        value = [{"probe": name}]
    elif isinstance(current, dict) or (current is None and dict in types):
        value = {"probe": name}
    elif isinstance(current, str) or current is None:
        value = f"probe-{name}"
    else:
        raise AssertionError(f"no probe value for {owner.__name__}.{name}: add one to SAMPLES")
    return [(name, value, value)]


def _required(cls) -> dict:
    return {f.name: f"required-{f.name}" for f in attr.fields(cls) if f.init and f.default is attr.NOTHING}


def _default(field):
    default = field.default
    return default.factory() if isinstance(default, attr.Factory) else default


def _json_fields(cls):
    return [f for f in attr.fields(cls) if f.init and f.metadata.get("json", True)]


def _cases():
    for cls in MODEL_CLASSES:
        required = _required(cls)
        for field in _json_fields(cls):
            current = required.get(field.name, _default(field))
            for label, value, marker in _probes(cls, field, current):
                yield pytest.param(cls, field.name, value, marker, id=f"{cls.__name__}.{label}={value!r}"[:90])


def _leaves(value, path=()):
    """(path, type, value) of every scalar in a JSON value."""
    if isinstance(value, dict):
        return {leaf for key, item in value.items() for leaf in _leaves(item, path + (key,))}
    if isinstance(value, list):
        return {leaf for index, item in enumerate(value) for leaf in _leaves(item, path + (index,))}
    return {(path, type(value), value)}


def test_the_walk_covers_every_model_class():
    names = {cls.__name__ for cls in MODEL_CLASSES}
    assert names == {"GraphiteTarget", "TimeSeries", "Stat", "Table", "Text", "RowPanel", "QueryVariable",
                     "Dashboard"}


def test_only_the_definitions_own_identity_and_alert_rules_stay_out_of_the_json():
    """The alert rules on a panel are compiled into rule groups (compile/rules.py), not JSON."""
    skipped = {(cls.__name__, f.name) for cls in MODEL_CLASSES for f in attr.fields(cls)
               if f.init and not f.metadata.get("json", True)}
    assert skipped == {("Dashboard", "name"), ("TimeSeries", "alerts"), ("Stat", "alerts"), ("Table", "alerts")}


@pytest.mark.parametrize("cls, name, value, marker", list(_cases()))
def test_every_field_is_written_or_refused_by_name(cls, name, value, marker):
    required = _required(cls)
    try:
        probed = cls(**{**required, name: value})
    except DefinitionError as exc:
        message = str(exc)
        assert message.startswith(f"{cls.__name__}.{name}") and "\n" not in message, message
        return
    before = _leaves(plain(cls(**required)))
    new = _leaves(plain(probed)) - before
    wanted = {(type(v), v) for _, _, v in _leaves(plain(marker))}
    assert wanted, "the probe carries nothing to look for"
    missing = wanted - {(kind, v) for _, kind, v in new}
    assert not missing, f"{cls.__name__}.{name} = {value!r} is dropped from the JSON"


def test_what_grafanalib_offers_is_written_in_grafanas_current_form(inventory_settings):
    """Realistic values of the fields written since they stopped vanishing pass
    Grafana's JSON Schemas and queuedash's lint, in the shapes Grafana saves."""
    from test_schema import schema_errors

    from queuedash.authoring import variables
    from queuedash.authoring.dashboard import dashboard
    from queuedash.authoring.layout import Row
    from queuedash.authoring.panels import Presets
    from queuedash.compile.build import compile_dashboard

    presets = Presets(inventory_settings)
    series = attr.evolve(
        presets.rate("Rate", ["a.b"]), transparent=True, cacheTimeout="60", timeFrom="1h", hideTimeOverride=True,
        axisSoftMin=0, axisSoftMax=100, barAlignment=-1, scaleDistributionType="log", scaleDistributionLog=10,
        extraJson={"fieldConfig": {"defaults": {"custom": {"lineStyle": {"fill": "dash", "dash": [10, 10]}}}}},
    )
    table = attr.evolve(presets.table("Table", ["a.b"]), filterable=True,
                        sortBy=[core.TableSortByField(displayName="Max", desc=True)])
    text = attr.evolve(presets.markdown("Notes", "hello"), transparent=True,
                       links=[model.link("Runbook", "https://runbooks.example.invalid")],
                       repeat=core.Repeat(direction="v", variable="queue"))
    queue = attr.evolve(variables.queue(inventory_settings), default="default")
    board = attr.evolve(
        dashboard(inventory_settings, name="fields", title="Fields", rows=[Row("Row", [series, table, text])],
                  variables=[queue]),
        timePicker=core.TimePicker(refreshIntervals=["1m", "5m"], timeOptions=[], hidden=True, nowDelay="30s"),
    )
    data = compile_dashboard(board, "test").data  # lints it too
    assert schema_errors(data) == []

    row, series_json, table_json, text_json = data["panels"]
    custom = series_json["fieldConfig"]["defaults"]["custom"]
    assert (custom["axisSoftMin"], custom["axisSoftMax"], custom["barAlignment"]) == (0, 100, -1)
    assert custom["scaleDistribution"] == {"type": "log", "log": 10}
    assert custom["lineStyle"] == {"fill": "dash", "dash": [10, 10]} and custom["lineWidth"] == 1
    assert (series_json["transparent"], series_json["cacheTimeout"], series_json["hideTimeOverride"]) == (True, "60", True)
    assert table_json["options"]["sortBy"] == [{"displayName": "Max", "desc": True}]
    assert (text_json["repeat"], text_json["repeatDirection"], text_json["transparent"]) == ("queue", "v", True)
    assert text_json["links"][0]["url"] == "https://runbooks.example.invalid"
    assert data["templating"]["list"][0]["current"] == {"text": ["default"], "value": ["default"]}
    assert data["timepicker"] == {"refresh_intervals": ["1m", "5m"], "hidden": True, "nowDelay": "30s"}

