// bench/capture-worker's chrome-remote-interface client: node bench/capture-worker-cri.js PORT PATH
// streams the first worker's heap snapshot to PATH through the NodeWorker domain
// the way a chrome-remote-interface script would (each worker message parsed
// with JSON.parse), prints "bytes seconds".
"use strict";
// pinned in tools/js (tools/install-runtimes.sh)
const CDP = require(require("node:path").join(__dirname, "..", "tools", "js", "node_modules", "chrome-remote-interface"));
const fs = require("node:fs");

(async () => {
  const [port, path] = process.argv.slice(2);
  const t0 = process.hrtime.bigint();
  const client = await CDP({ host: "127.0.0.1", port: Number(port) });
  const attached = new Promise((resolve) => client.NodeWorker.attachedToWorker(resolve));
  await client.NodeWorker.enable({ waitForDebuggerOnStart: false });
  const { sessionId } = await attached;
  const out = fs.createWriteStream(path, { mode: 0o600 });
  let bytes = 0, nextId = 1;
  const pending = new Map();
  client.NodeWorker.receivedMessageFromWorker(({ sessionId: sid, message }) => {
    if (sid !== sessionId) return;
    const m = JSON.parse(message);
    if (m.method === "HeapProfiler.addHeapSnapshotChunk") {
      bytes += Buffer.byteLength(m.params.chunk);
      out.write(m.params.chunk);
    } else if (m.id && pending.has(m.id)) {
      pending.get(m.id)(m);
      pending.delete(m.id);
    }
  });
  const send = (method, params = {}) => new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    client.NodeWorker.sendMessageToWorker({ sessionId, message: JSON.stringify({ id, method, params }) });
  });
  await send("HeapProfiler.enable");
  await send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  await new Promise((resolve) => out.end(resolve));
  await client.close();
  console.log(`${bytes} ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(3)}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
