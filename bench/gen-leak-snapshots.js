// Three heap snapshots of one process for the leak-finding benchmark: a heap
// of about MB megabytes (records in a Map, as bench/gen-snapshot.js builds
// them), written before (baseline), after (target) and after again (final)
// an action that caches LEAK more objects in a Map that never evicts.
//   node --max-old-space-size=16000 bench/gen-leak-snapshots.js DIR MB [LEAK]
// Writes DIR/a.heapsnapshot, b, c (v8.writeHeapSnapshot, in-process: one
// profiling session, so the ids match) and prints one JSON line.
'use strict';
const v8 = require('v8');
const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
const mb = Number(process.argv[3] || 30);
const leak = Number(process.argv[4] || 2000);
if (!dir || !(mb > 0)) {
  console.error('usage: node bench/gen-leak-snapshots.js DIR MB [LEAK]');
  process.exit(2);
}
const records = Math.max(1000, Math.round((mb * 1e6 - 3.2e6) / 1050));

class Child {
  constructor(i) {
    this.index = i;
    this.label = `child-${i}-${(i * 2654435761) % 1000003}`;
  }
}
class Record {
  constructor(i) {
    this.id = i;
    this.name = `record-${i}-${(i * 40503) % 65521}`;
    this.tags = [i, i + 1, `tag-${i % 997}`];
    this.child = new Child(i);
    const self = this;
    this.describe = function describe() { return `${self.name}:${i}`; };
  }
}
class LeakedEntry {
  constructor(i) {
    this.key = `/products?session=${i}`;
    this.body = new Array(16).fill(i);
  }
}

const store = new Map();
for (let i = 0; i < records; i++) store.set(i, new Record(i));
globalThis.benchStore = store;
const cache = new Map();
globalThis.benchCache = cache;
let n = 0;
function action() {
  for (let i = 0; i < leak; i++, n++) cache.set(`k${n}`, new LeakedEntry(n));
}

const out = {};
for (const name of ['a', 'b', 'c']) {
  if (name !== 'a') action();
  const file = path.join(dir, `${name}.heapsnapshot`);
  const t0 = Date.now();
  v8.writeHeapSnapshot(file);
  out[name] = { bytes: fs.statSync(file).size, writeSeconds: (Date.now() - t0) / 1000 };
}
console.log(JSON.stringify({ dir, records, leak, ...out }));
