// Misbehaving servers for the transport's fault specs (spec/transport_faults_spec.lua):
//   node spec/support/fakeserver.js MODE [ARG]
// Binds 127.0.0.1:0, prints "PORT n" (and "PORT2 m" for a second listener),
// then logs what it sees, one line per event. Modes:
//   stall-upgrade  discovery answers normally; the websocket upgrade is read and never answered
//   slow           each discovery answer is complete but dripped over ~1.2 s; the upgrade stalls
//   drip           /json/version answers one byte every 200 ms, forever
//   inject         /json/list's webSocketDebuggerUrl carries CR LF and a request of its own,
//                  aimed at a second listener that logs every byte it gets ("GOT <json>")
//   longpath       a webSocketDebuggerUrl with a 1100-character path
//   longhost       a webSocketDebuggerUrl with a 300-character host
//   biglist        /json/list answers 20 MB of JSON
//   app            an app's own HTTP port: 404 "Cannot GET" for every path
//   notjson        an app's port answering 200 text/html for every path
//   chunked        discovery answers in Transfer-Encoding: chunked (odd sizes, an extension,
//                  a trailer), one write per byte of the head for the version
//   relay PORT     forwards every connection to 127.0.0.1:PORT and logs the client's
//                  bytes ("C2S n") as they pass
"use strict";
const net = require("node:net");

const [mode, arg] = process.argv.slice(2);
const log = (line) => process.stdout.write(line + "\n");

function head(status, type, length, extra = "") {
  return `HTTP/1.1 ${status}\r\nContent-Type: ${type}\r\n` +
    (length === undefined ? "" : `Content-Length: ${length}\r\n`) + extra + "Connection: close\r\n\r\n";
}

function answer(sock, status, body, type = "application/json; charset=UTF-8") {
  sock.end(head(status, type, Buffer.byteLength(body)) + body);
}

function drip(sock, text, everyMs, total) {
  const step = Math.max(1, Math.ceil(text.length / (total / everyMs)));
  let i = 0;
  const t = setInterval(() => {
    if (sock.destroyed) return clearInterval(t);
    sock.write(text.slice(i, i + step));
    i += step;
    if (i >= text.length) {
      clearInterval(t);
      sock.end();
    }
  }, everyMs);
}

function target(port, url) {
  return JSON.stringify([{ description: "fake", id: "fake-1", title: "fake.js", type: "node",
    url: "file:///fake.js", webSocketDebuggerUrl: url || `ws://127.0.0.1:${port}/fake-1` }]);
}
const VERSION = JSON.stringify({ Browser: "node.js/v20.20.2", "Protocol-Version": "1.1" });

// Calls onRequest(sock, method, path, head) once a request head has arrived.
function httpServer(onRequest) {
  return net.createServer((sock) => {
    let buf = "";
    sock.on("error", () => {});
    sock.on("data", function onData(d) {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      sock.removeListener("data", onData);
      const [method, path] = buf.slice(0, buf.indexOf("\r\n")).split(" ");
      log(`HTTP ${method} ${path}`);
      onRequest(sock, method, path, buf.slice(0, end));
    });
  });
}

function listen(server, name = "PORT") {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => {
    log(`${name} ${server.address().port}`);
    resolve(server.address().port);
  }));
}

async function main() {
  if (mode === "relay") {
    const to = Number(arg);
    const server = net.createServer((client) => {
      const up = net.connect(to, "127.0.0.1");
      client.on("data", (d) => { log(`C2S ${d.length}`); up.write(d); });
      up.on("data", (d) => client.write(d));
      const end = () => { client.destroy(); up.destroy(); };
      client.on("close", end); up.on("close", end);
      client.on("error", end); up.on("error", end);
    });
    return listen(server);
  }
  if (mode === "inject") {
    const victim = net.createServer((sock) => {
      log("CONNECTION");
      sock.on("data", (d) => log("GOT " + JSON.stringify(d.toString("latin1"))));
      sock.on("error", () => {});
    });
    const vport = await listen(victim, "PORT2");
    const url = `ws://127.0.0.1:${vport}/x HTTP/1.1\r\nX-Injected: yes\r\n\r\nbody`;
    return listen(httpServer((sock, method, path) => {
      if (path.startsWith("/json/version")) return answer(sock, "200 OK", VERSION);
      answer(sock, "200 OK", target(0, url));
    }));
  }
  let port;
  const server = httpServer((sock, method, path) => {
    const isVersion = path.startsWith("/json/version");
    const isList = path.startsWith("/json");
    switch (mode) {
      case "stall-upgrade":
      case "slow":
        if (!isList) return; // the upgrade: read, never answered
        if (mode === "slow") {
          const body = isVersion ? VERSION : target(port);
          return drip(sock, head("200 OK", "application/json", Buffer.byteLength(body)) + body, 100, 1200);
        }
        return answer(sock, "200 OK", isVersion ? VERSION : target(port));
      case "drip":
        if (!isVersion) return answer(sock, "200 OK", target(port));
        sock.write("HTTP/1.1 200 OK\r\n");
        { const t = setInterval(() => (sock.destroyed ? clearInterval(t) : sock.write("X")), 200); }
        return;
      case "longpath":
        if (isVersion) return answer(sock, "200 OK", VERSION);
        return answer(sock, "200 OK", target(port, `ws://127.0.0.1:${port}/${"p".repeat(1100)}`));
      case "longhost":
        if (isVersion) return answer(sock, "200 OK", VERSION);
        return answer(sock, "200 OK", target(port, `ws://${"h".repeat(300)}:${port}/x`));
      case "biglist":
        if (isVersion) return answer(sock, "200 OK", VERSION);
        return answer(sock, "200 OK", target(port).replace("fake.js", "f".repeat(20 * 1024 * 1024)));
      case "app":
        return answer(sock, "404 Not Found", `<!DOCTYPE html><pre>Cannot GET ${path}</pre>`, "text/html");
      case "chunked": {
        const body = isVersion ? VERSION : target(port);
        let out = head("200 OK", "application/json", undefined, "Transfer-Encoding: chunked\r\n");
        for (let i = 0, n = 1; i < body.length; i += n, n = n * 3 + 1) {
          const piece = body.slice(i, i + n);
          out += piece.length.toString(16) + (n === 4 ? ";ext=1" : "") + "\r\n" + piece + "\r\n";
        }
        out += "0\r\nX-Trailer: yes\r\n\r\n";
        if (!isVersion) return sock.end(out);
        return drip(sock, out, 5, 5 * out.length);
      }
      case "notjson":
        return answer(sock, "200 OK", "<!DOCTYPE html><h1>My app</h1>", "text/html");
      default:
        throw new Error("unknown mode " + mode);
    }
  });
  port = await listen(server);
}

main();
