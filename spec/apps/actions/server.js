// A small order service for the leak hunt's outside actions (issue 10):
//   node --inspect=127.0.0.1:0 server.js leaky|clean
// prints `orders ready http=http://127.0.0.1:PORT`. POST or GET /orders makes
// an Order; the leaky service also keeps each one in an audit log that is
// never trimmed (the leak). Other routes exercise the HTTP client:
// /chunked (chunked body), /close (Connection: close), /old (HTTP/1.0 style,
// body until close), /status?code=N, /fail-once (drops the connection).
"use strict";
const http = require("node:http");

const mode = process.argv[2] || "leaky";
if (mode !== "leaky" && mode !== "clean") {
  console.error("usage: server.js leaky|clean");
  process.exit(2);
}

class Order {
  constructor(id, body) {
    this.id = id;
    this.body = body;
    this.lines = new Array(200).fill(id); // ~1.6 KB per order
    this.createdAt = Date.now();
  }
}

const auditLog = []; // leaky: every order stays here
let nextId = 1;
let served = 0;

function readBody(req) {
  return new Promise((resolve) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => resolve(data));
  });
}

const server = http.createServer(async (req, res) => {
  served++;
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/orders") {
    const body = await readBody(req);
    const order = new Order(nextId++, body);
    if (mode === "leaky") auditLog.push(order);
    res.writeHead(req.method === "POST" ? 201 : 200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id: order.id, method: req.method, bytes: body.length }));
  } else if (url.pathname === "/chunked") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("part one,");
    setImmediate(() => res.end(" part two"));
  } else if (url.pathname === "/close") {
    res.writeHead(200, { connection: "close", "content-length": "2" });
    res.end("ok");
  } else if (url.pathname === "/old") {
    // no length, no chunking: the body ends when the connection does
    req.socket.end("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil close");
  } else if (url.pathname === "/status") {
    res.writeHead(Number(url.searchParams.get("code")) || 500).end("status\n");
  } else if (url.pathname === "/stats") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ mode, served, audit: auditLog.length }));
  } else {
    res.writeHead(404).end("not found\n");
  }
});
server.listen(0, "127.0.0.1", () => {
  console.log(`orders ready mode=${mode} http=http://127.0.0.1:${server.address().port}`);
});
process.on("SIGTERM", () => process.exit(0));
