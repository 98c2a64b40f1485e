// A keep-alive HTTP client in Node, what a user would write instead of
// memdbg's --action-http: N GETs of URL over C connections (http.Agent with
// keepAlive). Prints one JSON line {requests, seconds, statuses}.
//   node bench/http-client.js URL N C
"use strict";
const http = require("node:http");
const [url, n = "1000", c = "8"] = process.argv.slice(2);
const total = Number(n), conc = Number(c);
const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
let started = 0, done = 0;
const statuses = {};
const t0 = process.hrtime.bigint();
function one() {
  if (started >= total) return;
  started++;
  http.get(url, { agent }, (res) => {
    res.resume();
    res.on("end", () => {
      statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
      if (++done === total) {
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        console.log(JSON.stringify({ requests: total, seconds, statuses }));
        agent.destroy();
      } else one();
    });
  }).on("error", (e) => { console.error(e.message); process.exit(1); });
}
for (let i = 0; i < conc; i++) one();
