"""queuedash: Grafana dashboards for Celery task queues, as code.

This folder (``generator/`` in the repository) is installed as the import
package ``queuedash``: pyproject.toml maps the name onto the folder
(setuptools ``package-dir``). A generic top-level name such as ``generator``
would collide with modules of the Celery apps the agent is imported into, so
the code refuses to be imported under any other name (say, ``generator`` from
the repository root): one module object per file, never two copies of the
same class.

Data flows one way: definitions (dashboards/*.py) -> model (authoring) ->
JSON (compile) -> Grafana (deploy); check evaluates the JSON against
Graphite; the agent emits the metrics under the names `naming` builds.

Kept import-light: the agent imports `queuedash.naming` inside Celery
workers, so nothing here may import grafanalib, jinja2, requests or click.
"""

if __name__ != "queuedash":  # pragma: no cover - the guard itself
    raise ImportError(
        f"this is the queuedash package, imported here as {__name__!r}: import it as `queuedash` "
        "(pip install -e . in the repository, or pip install queuedash)"
    )
