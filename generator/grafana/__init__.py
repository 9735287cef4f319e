"""Grafana's HTTP API, as queuedash talks to it.

    client.py       the only module that knows Grafana's URLs: one keep-alive session,
                    auth, TLS, timeouts, retries, errors mapped to errors.py
    credentials.py  credentials from the environment; redaction of secrets from any text
    errors.py       the exceptions, under queuedash.errors.QueuedashError

Knows nothing of dashboards' contents. The contract cited as "§n" is
../shared/grafana/contract.md.
"""
