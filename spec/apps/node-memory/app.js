// A small Node app for memdbg's memory specs and the capture benchmark:
//   node --inspect=127.0.0.1:0 app.js MODE [OBJECTS]
// MODE: leaky | clean | idle. OBJECTS (default 0) pre-fills the heap with that
// many small objects (about 150 bytes of snapshot each) so snapshots take a while.
// Prints "memdbg-memory-app ready mode=MODE" once set up. Globals for the specs:
//   handleRequests(n)   the action: leaky registers n LeakyListener listeners
//                       and never removes them; clean removes them again
//   allocate(mb) / release() / releaseBroken()   for verify-cleanup
//   usedHeap()          v8.getHeapStatistics().used_heap_size
//   failingAction()     throws, to check that exceptions are reported
//   writeSnapshot(path) v8.writeHeapSnapshot, timed in-process (bench/capture)
"use strict";
const v8 = require("node:v8");

const mode = process.argv[2] || "idle";
const objects = Number(process.argv[3] || 0);

class LeakyListener {
  constructor(id) {
    this.id = id;
    this.payload = new Array(1280).fill(id + 0.5); // ~10 KB each
    this.handle = () => { this.calls = (this.calls || 0) + 1; };
  }
}

class Filler {
  constructor(i) { this.i = i; this.name = "filler-" + (i % 1000); this.next = null; }
}

const bus = new EventTarget();
require("node:events").setMaxListeners(0, bus); // many listeners is the point, not a warning
let handled = 0;

globalThis.handleRequests = function handleRequests(n) {
  const added = [];
  for (let i = 0; i < n; i++) {
    const l = new LeakyListener(handled++);
    bus.addEventListener("request", l.handle);
    added.push(l);
  }
  bus.dispatchEvent(new Event("request"));
  if (mode !== "leaky") for (const l of added) bus.removeEventListener("request", l.handle);
  return handled;
};

// verify-cleanup: allocate keeps ~mb megabytes reachable, release drops them,
// releaseBroken "forgets" to (a cache keeps them).
let held = [];
const cache = new Map();
globalThis.allocate = function allocate(mb) {
  for (let i = 0; i < mb * 16; i++) held.push(new Array(8192).fill(i + 0.5)); // 64 KB each
  return held.length;
};
globalThis.release = function release() { held = []; return 0; };
globalThis.releaseBroken = function releaseBroken() { cache.set("held", held); held = []; return 0; };
globalThis.usedHeap = () => v8.getHeapStatistics().used_heap_size;
globalThis.failingAction = function failingAction() { throw new Error("action failed on purpose"); };
globalThis.slowAction = (ms) => new Promise((r) => setTimeout(() => r(ms), ms));
// bench/capture: the in-process baseline; returns milliseconds taken
globalThis.writeSnapshot = function writeSnapshot(path) {
  const t0 = process.hrtime.bigint();
  v8.writeHeapSnapshot(path);
  return Number(process.hrtime.bigint() - t0) / 1e6;
};

const fill = [];
for (let i = 0; i < objects; i++) {
  const f = new Filler(i);
  if (i > 0) f.next = fill[i - 1];
  fill.push(f);
}
globalThis.fillers = fill;

setInterval(() => {}, 1000);
process.on("SIGTERM", () => process.exit(0));
console.log(`memdbg-memory-app ready mode=${mode} objects=${objects}`);
