// MemLab's full load of one snapshot, as its users run it:
// getFullHeapFromFile() from @memlab/heap-analysis (parse, shortest paths,
// dominators, retained sizes). The analysis benchmark times this whole
// process; the conformance check also asks for the per-node results.
//   node --max-old-space-size=16000 bench/memlab-load.js FILE [--dump OUT.json]
// Prints one JSON line: {nodes, edges, seconds} (seconds: the load alone,
// inside the process). --dump writes, for every node, its id, type, name,
// self size, MemLab's retained size and the id of MemLab's dominator, as
// parallel arrays.
'use strict';
const path = require('path');
const fs = require('fs');

const file = process.argv[2];
const dumpAt = process.argv.indexOf('--dump');
const dump = dumpAt > 0 ? process.argv[dumpAt + 1] : null;
if (!file) {
  console.error('usage: node bench/memlab-load.js FILE [--dump OUT.json]');
  process.exit(2);
}
const modules = path.join(__dirname, '..', 'tools', 'js', 'node_modules'); // pinned in tools/js
const { getFullHeapFromFile } = require(path.join(modules, '@memlab', 'heap-analysis'));

(async () => {
  const t0 = process.hrtime.bigint();
  // MemLab writes progress to the terminal; keep stdout for our one line
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = () => true;
  const heap = await getFullHeapFromFile(file);
  process.stdout.write = write;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const result = { nodes: heap.nodes.length, edges: heap.edges.length, seconds };
  if (dump) {
    const n = heap.nodes.length;
    const d = { id: new Array(n), type: new Array(n), name: new Array(n), self: new Array(n),
      retained: new Array(n), dominator: new Array(n) };
    heap.nodes.forEach((node, i) => {
      d.id[i] = node.id;
      d.type[i] = node.type;
      d.name[i] = node.name;
      d.self[i] = node.self_size;
      d.retained[i] = node.retainedSize;
      d.dominator[i] = node.dominatorNode ? node.dominatorNode.id : -1;
    });
    fs.writeFileSync(dump, JSON.stringify(d));
  }
  console.log(JSON.stringify(result));
})().catch((e) => {
  console.error(e && e.stack || e);
  process.exit(1);
});
