// memdbg demo app with worker_threads (issue 16):
//   node --inspect=127.0.0.1:0 app.js isolates
// The main thread hands each message to a worker and waits for its answer.
// The worker leaks: every message leaves a WorkerRecord in a module-level
// array. The main thread does the same work with a MainRecord per message
// and keeps none of them. Evaluate in the main thread:
//   send(n)        -> Promise: n messages handled by the worker
//   terminateWorker() the worker is terminated (at once, from the main thread)
//   startWorker()  a new worker (after terminateWorker)
//   workerCount()  -> how many workers run
//   writeWorkerSnapshot(file) -> Promise of ms: Node's own worker.getHeapSnapshot()
// It serves the Chromium pages of the isolates spec too (page.html,
// worker.js, frame.html; workers.html, sw.js, shared.js) and prints
//   memdbg-app ready mode=isolates http=http://127.0.0.1:PORT
"use strict";
const { Worker, isMainThread, parentPort } = require("node:worker_threads");
const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");

if (!isMainThread) {
  class WorkerRecord {
    constructor(i, text) {
      this.i = i;
      this.text = text;
      this.payload = new Array(64).fill(i);
    }
  }
  const kept = []; // the leak: never cleared
  // every character a snapshot's strings escape, twice over through NodeWorker
  globalThis.tricky = "quote\" backslash\\ slash/ newline\n tab\t \u00e9 \u2603 \ud834\udd1e \u2028 \u0001 end";
  parentPort.on("message", (m) => {
    if (m.sync) parentPort.postMessage({ synced: m.sync, kept: kept.length });
    else kept.push(new WorkerRecord(m.i, m.text));
  });
} else {
  class MainRecord {
    constructor(i) {
      this.i = i;
      this.text = "message " + i;
    }
  }
  let worker, running = 0;
  function startWorker() {
    worker = new Worker(__filename, { name: "leaky-worker" });
    running++;
    worker.on("exit", () => { running--; });
    return true;
  }
  startWorker();
  globalThis.startWorker = startWorker;
  let syncs = 0;
  globalThis.send = function send(n) {
    return new Promise((resolve) => {
      for (let i = 0; i < n; i++) {
        const rec = new MainRecord(i); // the same work, dropped at once
        worker.postMessage({ i: rec.i, text: rec.text });
      }
      const id = ++syncs;
      const onMessage = (m) => {
        if (m.synced !== id) return;
        worker.off("message", onMessage);
        resolve(m.kept);
      };
      worker.on("message", onMessage);
      worker.postMessage({ sync: id });
    });
  };
  globalThis.terminateWorker = function terminateWorker() {
    worker.terminate();
    return true;
  };
  globalThis.workerCount = () => running;
  // the worker's heap snapshot written by Node itself (worker.getHeapSnapshot()):
  // bench/capture-worker's in-process client; resolves to milliseconds
  globalThis.writeWorkerSnapshot = function writeWorkerSnapshot(file) {
    const t0 = process.hrtime.bigint();
    return worker.getHeapSnapshot().then((stream) => new Promise((resolve, reject) => {
      const out = fs.createWriteStream(file, { mode: 0o600 });
      stream.pipe(out).on("finish", () => resolve(Number(process.hrtime.bigint() - t0) / 1e6)).on("error", reject);
    }));
  };

  const FILES = {
    "/page.html": "text/html", "/worker.js": "text/javascript", "/frame.html": "text/html",
    "/workers.html": "text/html", "/sw.js": "text/javascript", "/shared.js": "text/javascript",
  };
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, "http://app").pathname;
    if (!FILES[p]) {
      res.writeHead(404).end("not found\n");
      return;
    }
    res.writeHead(200, { "content-type": FILES[p] });
    res.end(fs.readFileSync(path.join(__dirname, p)));
  });
  // a few rounds first, so that what V8 makes once per call site (feedback,
  // allocation sites) is in place before anyone hunts
  const warm = globalThis.send(5).then(() => globalThis.send(5));
  server.listen(0, "127.0.0.1", () => warm.then(() => {
    console.log(`memdbg-app ready mode=isolates http=http://127.0.0.1:${server.address().port}`);
  }));
  process.on("SIGTERM", () => process.exit(0));
}
