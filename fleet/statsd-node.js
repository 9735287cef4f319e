// A StatsD node behind StatsD's cluster proxy (statsd-proxy.js): the same as statsd.js, but
// deleteIdleStats, which the proxy requires (docs/cluster_proxy.md): when a node leaves the
// proxy's ring and comes back, its keys move to another node and back, and a node that kept
// sending 0 for a key it no longer receives would overwrite the other node's counts in Graphite.
// Run from the package folder: node stats.js /etc/statsd/statsd-node.js
//
// The cost: a counter is written only in the flushes where it fired, so Graphite has gaps
// (null) where it had zeros. queuedash's counts and backlog treat a gap as 0; rate graphs draw
// gaps; `queuedash check` calls a counter with no point in its time range EMPTY.
//
// Comment lines start with // (queuedash's tests read this file as JSON without them).
{
  "graphiteHost": "relay.example.internal",
  "graphitePort": 2003,
  "address": "0.0.0.0",
  "port": 8125,
  "mgmt_address": "0.0.0.0",
  "mgmt_port": 8126,
  // The finest Graphite retention (storage-schemas.conf) must be this step.
  "flushInterval": 10000,
  "backends": ["./backends/graphite"],
  "graphite": {"legacyNamespace": true},
  "percentThreshold": [90],
  "deleteIdleStats": true,
  // deleteIdleStats deletes gauges too, after one flush without an update: keep them 3 flushes,
  // as statsd.js does, so a poll that comes a little late leaves no gap (and a worker that left
  // still leaves the panels within 3 flushes).
  "gaugesMaxTTL": 3
}
