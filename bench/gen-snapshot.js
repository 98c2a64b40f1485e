// Writes a heap snapshot of about the requested size from this very process
// (v8.writeHeapSnapshot, in-process: no inspector in the way), for the
// analysis benchmark and the conformance check.
//   node --max-old-space-size=16000 bench/gen-snapshot.js OUT.heapsnapshot MB
// The heap holds RECORDS records in a Map, each with a unique string, an
// array of numbers and strings, a child object with a string of its own and
// a closure over the record (so a context), plus a WeakMap and a WeakRef on
// a few of them so the weak-edge rules show. One record comes to ~14 nodes
// (the template strings are cons strings) and ~43 edges, ~1050 bytes of
// snapshot (Node 20); MB is turned into a record count with that figure
// (BYTES_PER_RECORD overrides it). Prints one JSON line with the real size.
'use strict';
const v8 = require('v8');
const fs = require('fs');

const out = process.argv[2];
const mb = Number(process.argv[3] || 30);
if (!out || !(mb > 0)) {
  console.error('usage: node bench/gen-snapshot.js OUT.heapsnapshot MB');
  process.exit(2);
}
const BYTES_PER_RECORD = Number(process.env.BYTES_PER_RECORD || 1050);
const BASE_BYTES = 3.2e6; // an idle Node 20 process
const records = Math.max(1000, Math.round((mb * 1e6 - BASE_BYTES) / BYTES_PER_RECORD));

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
    this.tags = [i, i + 1, `tag-${i % 997}`]; // 997 shared tag strings
    this.child = new Child(i);
    const self = this;
    this.describe = function describe() { return `${self.name}:${i}`; };
  }
}

const t0 = Date.now();
const store = new Map();
for (let i = 0; i < records; i++) store.set(i, new Record(i));
// weak structures: DevTools and MemLab treat these edges differently
const weak = new WeakMap();
const refs = [];
for (let i = 0; i < Math.min(records, 2000); i += 2) {
  const key = store.get(i);
  weak.set(key, { payload: `weak-value-${i}`, list: new Array(8).fill(i) });
  refs.push(new WeakRef(store.get(i + 1)));
}
globalThis.benchStore = store;
globalThis.benchWeak = weak;
globalThis.benchRefs = refs;
const built = Date.now();
v8.writeHeapSnapshot(out);
const written = Date.now();
console.log(JSON.stringify({ file: out, requestedMB: mb, records, bytes: fs.statSync(out).size,
  buildSeconds: (built - t0) / 1000, writeSeconds: (written - built) / 1000 }));
