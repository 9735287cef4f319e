"""graphite-web, as queuedash talks to it and reads its target language.

    client.py     the HTTP client: /metrics/find and /render (the only module that knows
                  graphite-web's URLs)
    functions.py  the function names graphite-web 1.1.10 knows
    targets.py    Grafana's ``#A`` reference expansion of Graphite targets
"""
