// An express server under load: 20 routes, JSON bodies, a session-ish Map
// cache; 4,000 requests from 32 concurrent loopback clients, the heap
// snapshot written while requests are in flight.
//   node express-load.js OUT.heapsnapshot     (needs express: bench/conformance-devtools installs it)
'use strict';
const http = require('http');
const v8 = require('v8');
const express = require('express');

const out = process.argv[2];
const app = express();
app.use(express.json());
const sessions = new Map();
for (let r = 0; r < 20; r++) {
  app.get(`/api/r${r}/:id`, (req, res) => {
    const s = sessions.get(req.params.id) ?? {id: req.params.id, hits: 0, history: []};
    s.hits++;
    s.history.push({route: r, at: Date.now(), ua: req.headers['user-agent']});
    if (s.history.length > 50) s.history.shift();
    sessions.set(req.params.id, s);
    res.json({route: r, hits: s.hits, items: Array.from({length: 20}, (_, i) => ({i, name: `item-${i}`}))});
  });
}
const server = app.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const agent = new http.Agent({keepAlive: true, maxSockets: 32});
  let sent = 0, done = 0, snapped = false;
  const total = 4000;
  function one() {
    if (sent >= total) return;
    const n = sent++;
    http.get({host: '127.0.0.1', port, path: `/api/r${n % 20}/${n % 500}`, agent}, res => {
      res.resume();
      res.on('end', () => {
        done++;
        if (!snapped && done >= total / 2) {
          snapped = true;
          v8.writeHeapSnapshot(out);
        }
        if (done === total) {
          agent.destroy();
          server.close();
        } else {
          one();
        }
      });
    });
  }
  for (let i = 0; i < 32; i++) one();
});
