// memdbg's leak-pattern apps: one common leak per pattern, each with a correct twin.
//   node --inspect=127.0.0.1:0 spec/apps/leaks/app.mjs PATTERN [leaky|correct]
//   deno run --inspect=127.0.0.1:0 --allow-net spec/apps/leaks/app.mjs PATTERN [leaky|correct]
// PATTERN is a file beside this one (array, map, set, timers, closures, emitter,
// eventtarget, fibers); see README.md. Prints, once serving,
//   memdbg-leak-app ready pattern=PATTERN mode=MODE http=http://127.0.0.1:PORT
// The action (one "request" n times) is reachable two ways:
//   in-process: the JavaScript expression `handleRequests(N)` (returns a promise of stats)
//   over HTTP:  GET /work?n=N (answers the stats as JSON); GET /stats
import * as http from "node:http";

const argv = globalThis.Deno ? Deno.args : process.argv.slice(2);
const [pattern, mode = "leaky"] = argv;
const PATTERNS = ["array", "map", "set", "timers", "closures", "emitter", "eventtarget", "fibers"];
if (!PATTERNS.includes(pattern) || !["leaky", "correct"].includes(mode)) {
  console.error(`usage: app.mjs ${PATTERNS.join("|")} [leaky|correct]`);
  globalThis.Deno ? Deno.exit(2) : process.exit(2);
}

const app = await import(`./${pattern}.mjs`);
const request = app[mode];
let handled = 0;

function stats() {
  return { pattern, mode, handled, ...app.stats() };
}

// The action: n requests, one after the other; resolves to the stats.
globalThis.handleRequests = async function handleRequests(n) {
  n = Math.max(0, Math.floor(Number(n) || 0));
  for (let i = 0; i < n; i++) await request(handled++);
  return stats();
};
globalThis.appStats = stats;

// Warm up once, so what the first request creates lazily (runtime internals,
// the pattern's holder) exists before anyone takes a baseline snapshot.
await globalThis.handleRequests(1);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://app");
  let body;
  if (url.pathname === "/work") {
    body = JSON.stringify(await globalThis.handleRequests(url.searchParams.get("n") ?? 1));
  } else if (url.pathname === "/stats") {
    body = JSON.stringify(stats());
  } else {
    res.writeHead(404).end("not found\n");
    return;
  }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(body + "\n");
});
server.listen(0, "127.0.0.1", () => {
  const port = server.address().port;
  console.log(`memdbg-leak-app ready pattern=${pattern} mode=${mode} http=http://127.0.0.1:${port}`);
});
if (!globalThis.Deno) process.on("SIGTERM", () => process.exit(0));
