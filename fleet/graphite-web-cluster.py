# graphite-web's local_settings.py for the front graphite-web, the one Grafana's data source and
# `queuedash check` / `discover` ask: it holds no whisper files of its own and asks every storage
# node's graphite-web (each beside its carbon-cache, reading its own whisper files and cache).
#
# queuedash's tests start the front graphite-web with these settings, only the addresses changed.

CLUSTER_SERVERS = ["graphite-a.example.internal:8080", "graphite-b.example.internal:8080"]

# A storage node that fails to answer makes the whole query fail (an error in the panel) instead
# of leaving that node's series out: a sum over hosts or tasks missing half its series would look
# like a drop in traffic, and a backlog missing one side would be wrong in either direction.
STORE_FAIL_ON_ERROR = True

# Seconds a storage node has to answer a find and a render; after a failure it is skipped for
# REMOTE_RETRY_DELAY seconds (with STORE_FAIL_ON_ERROR, queries fail meanwhile).
FIND_TIMEOUT = 3.0
FETCH_TIMEOUT = 6.0
REMOTE_RETRY_DELAY = 60.0
