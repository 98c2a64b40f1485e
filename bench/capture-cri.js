// bench/capture's chrome-remote-interface client: node bench/capture-cri.js PORT PATH
// streams a heap snapshot to PATH the way its README suggests, prints "bytes seconds".
"use strict";
// pinned in tools/js (tools/install-runtimes.sh)
const CDP = require(require("node:path").join(__dirname, "..", "tools", "js", "node_modules", "chrome-remote-interface"));
const fs = require("node:fs");

(async () => {
  const [port, path] = process.argv.slice(2);
  const t0 = process.hrtime.bigint();
  const client = await CDP({ host: "127.0.0.1", port: Number(port) });
  const out = fs.createWriteStream(path, { mode: 0o600 });
  let bytes = 0;
  client.HeapProfiler.addHeapSnapshotChunk(({ chunk }) => {
    bytes += Buffer.byteLength(chunk);
    out.write(chunk);
  });
  await client.HeapProfiler.enable();
  await client.HeapProfiler.takeHeapSnapshot({ reportProgress: false });
  await new Promise((resolve) => out.end(resolve));
  await client.close();
  console.log(`${bytes} ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(3)}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
