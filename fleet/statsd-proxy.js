// StatsD's cluster proxy (proxy.js, in the npm statsd package; docs/cluster_proxy.md): every
// agent sends here, and the proxy sends each metric name to one StatsD node of a consistent-hash
// ring, so each key is counted by one node and its counts stay exact. The nodes run
// statsd-node.js. Run from the package folder: node proxy.js /etc/statsd/statsd-proxy.js
//
// Comment lines start with // (queuedash's tests read this file as JSON without them).
{
  "nodes": [
    {"host": "statsd-a.example.internal", "port": 8125, "adminport": 8126},
    {"host": "statsd-b.example.internal", "port": 8125, "adminport": 8126}
  ],
  "server": "./servers/udp",
  "host": "0.0.0.0",
  "port": 8125,
  "mgmt_address": "0.0.0.0",
  "mgmt_port": 8126,
  // How often the proxy asks each node's management port for "health", and how long it waits
  // for the answer: a node that does not answer leaves the ring until it answers again, and its
  // keys move to the other nodes meanwhile. A short interval on a busy machine makes nodes flap.
  "checkInterval": 10000,
  "cacheSize": 10000,
  "forkCount": 0
}
