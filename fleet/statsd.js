// StatsD (npm statsd 0.9) flushing to Graphite: the one central StatsD, or one on every host
// with queuedash's per-host mode ([naming] per_host = true, and QUEUEDASH_PER_HOST=true for the
// agent). Run from the package folder: node stats.js /etc/statsd/statsd.js
//
// Comment lines start with // (queuedash's tests read this file as JSON without them, and start
// StatsD with it, only the addresses and the flush interval changed).
{
  "graphiteHost": "graphite.example.internal",
  "graphitePort": 2003,
  "address": "0.0.0.0",
  "port": 8125,
  "mgmt_address": "0.0.0.0",
  "mgmt_port": 8126,
  // The finest Graphite retention (storage-schemas.conf) must be this step: two flushes in one
  // whisper slot overwrite each other, and counts are lost.
  "flushInterval": 10000,
  "backends": ["./backends/graphite"],
  // stats_counts.<key> (count per flush) and stats.<key> (rate): queuedash's [naming] namespace "legacy"
  "graphite": {"legacyNamespace": true},
  // upper_90: queuedash's [naming] timer_percentile
  "percentThreshold": [90],
  // Idle counters keep sending 0: graphs show zeros, not gaps.
  "deleteIdleStats": false,
  // ...but a gauge nobody updates for 3 flushes goes: the gauges of a worker that left (or of a
  // queue nobody polls) leave the panels instead of repeating forever.
  "deleteGauges": true,
  "gaugesMaxTTL": 3
}
