"""Grafana's HTTP API, as queuedash talks to it.

    client.py       one keep-alive session, auth, TLS, timeouts, retries, errors mapped
                    to errors.py; the legacy /api calls, and `call` for any other endpoint
    apis.py         the Kubernetes-style /apis API (Grafana 12-13): discovery, dashboards
                    and folders of an organisation's namespace
    alerting.py     the alerting provisioning API (rules, rule groups) and what the
                    credentials may do there (GET /api/access-control/user/permissions)
    credentials.py  credentials from the environment; redaction of secrets from any text
    errors.py       the exceptions, under queuedash.errors.QueuedashError

Knows nothing of dashboards' contents. The contract cited as "§n" is
../shared/grafana/contract.md.
"""
