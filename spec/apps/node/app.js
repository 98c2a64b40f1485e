// memdbg demo app for Node.js: `node --inspect=127.0.0.1:0 app.js leaky|clean|idle`
// Serves HTTP on a free loopback port and prints
//   memdbg-app ready mode=MODE http=http://127.0.0.1:PORT
// The leak is driven either by evaluating `handleRequests(n)` in the target or
// by `GET /work?n=N`; `GET /stats` reports counts as JSON.
"use strict";
const http = require("node:http");

const MODES = ["leaky", "clean", "idle"];
const mode = process.argv[2] || "idle";
if (!MODES.includes(mode)) {
  console.error(`unknown mode ${mode}: use ${MODES.join("|")}`);
  process.exit(2);
}

// Each action registers one of these as an event listener. It holds ~10 KB:
// 1280 doubles, 8 bytes each on the heap in V8 (with or without pointer
// compression) and in JSC.
class LeakyListener {
  constructor(id) {
    this.id = id;
    this.payload = new Array(1280).fill(id + 0.5);
    this.calls = 0;
    this.handle = () => { this.calls++; };
  }
}

const bus = new EventTarget();
globalThis.leakedListeners = []; // leaky: never cleared
let handled = 0;

function stats() {
  return { mode, handled, retained: globalThis.leakedListeners.length };
}

// Performs the app's action n times; returns how many listeners stay retained.
globalThis.handleRequests = function handleRequests(n) {
  n = Math.max(0, Math.floor(Number(n) || 0));
  if (mode === "idle") return globalThis.leakedListeners.length;
  const added = [];
  for (let i = 0; i < n; i++) {
    const listener = new LeakyListener(handled++);
    bus.addEventListener("request", listener.handle);
    added.push(listener);
  }
  bus.dispatchEvent(new Event("request"));
  if (mode === "leaky") {
    for (const l of added) globalThis.leakedListeners.push(l); // the leak
  } else {
    for (const l of added) bus.removeEventListener("request", l.handle);
  }
  return globalThis.leakedListeners.length;
};
globalThis.appStats = stats;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://app");
  let body;
  if (url.pathname === "/work") {
    globalThis.handleRequests(url.searchParams.get("n") ?? 1);
    body = JSON.stringify(stats());
  } else if (url.pathname === "/stats") {
    body = JSON.stringify(stats());
  } else if (url.pathname === "/") {
    body = `ok ${mode}\n`;
  } else {
    res.writeHead(404).end("not found\n");
    return;
  }
  res.writeHead(200, { "content-type": url.pathname === "/" ? "text/plain" : "application/json" });
  res.end(body);
});
server.listen(0, "127.0.0.1", () => {
  console.log(`memdbg-app ready mode=${mode} http=http://127.0.0.1:${server.address().port}`);
});
process.on("SIGTERM", () => process.exit(0));
