"""Compiling: definitions -> model -> JSON.

    build.py     load dashboards/*.py, build, lint, encode, write the output folder
    encode.py    the model as plain JSON values; those as file text (orjson, byte for byte the stdlib's)
    validate.py  queuedash's own lint of dashboard JSON
    export.py    JSON for Grafana's Import screen; provisioning YAML

The only subpackage that turns the model into JSON; what comes after it
(check, deploy) works on the JSON dicts.
"""
