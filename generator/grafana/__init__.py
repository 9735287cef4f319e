"""Deploying dashboards to Grafana through its HTTP API.

    client.py       the only module that knows Grafana's URLs: one keep-alive session,
                    auth, TLS, timeouts, retries, errors mapped to errors.py
    credentials.py  credentials from the environment; redaction of secrets from any text
    plan.py         pure: normalize live and generated JSON, compare, classify
    apply.py        ensure folders, read live dashboards, carry out a plan on N threads
    commands.py     the `deploy` and `diff` click commands (the only module here that prints)
    errors.py       the exceptions, under generator.errors.QueuedashError

Works on JSON dicts only: nothing here imports generator.model (data flows one
way: definitions -> model -> JSON -> deploy). The contract cited as "§n" is
../shared/grafana/contract.md.
"""
