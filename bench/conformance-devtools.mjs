// Conformance of memdbg with Chrome DevTools' own heap-snapshot code, node
// by node, on one snapshot file:
//   node bench/devtools/build.mjs                      (once: build/devtools-heap.mjs)
//   node bench/conformance-devtools.mjs FILE [--json] [--show N] [--memdbg PREFIX]
// DevTools: chrome-devtools-frontend's HeapSnapshotLoader + JSHeapSnapshot
// (bench/devtools/devtools-heap.ts). memdbg: bench/conformance-devtools-memdbg.lua
// (run here with $LUA, default lua5.4), or columns it already wrote to
// PREFIX.* (--memdbg PREFIX: the suite's spec writes them in its own process).
// Both number nodes in file order, so they are compared by ordinal:
//   per node: self size (after DevTools' attribution), retained size,
//             distance (DevTools' -5 "unreached" = memdbg's none), dominator,
//             class (DevTools' class key: "script,line,column,name" for
//             objects with a location, ",name" otherwise);
//   per class: count, shallow size, retained size, distance (the Summary).
// memdbg's columns come with PREFIX.summary: "class key<TAB>retained size" per row.
// Prints the figures, the first N differences of each kind (default 5), and
// with --json one JSON line of the counts. Exit 0 when every class and at
// least 99.9 % of the nodes agree, 1 otherwise.
import {execFileSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const memdbgAt = args.indexOf('--memdbg');
const prefix = memdbgAt >= 0 ? args[memdbgAt + 1] : null;
const file = args.find((a, i) => !a.startsWith('--') && !/^\d+$/.test(a) && (memdbgAt < 0 || i !== memdbgAt + 1));
const json = args.includes('--json');
const showAt = args.indexOf('--show');
const SHOW = showAt >= 0 ? Number(args[showAt + 1]) : 5;
if (!file) {
  console.error('usage: node bench/conformance-devtools.mjs FILE [--json] [--show N]');
  process.exit(2);
}
const bundle = path.join(root, 'build/devtools-heap.mjs');
if (!fs.existsSync(bundle)) {
  console.error('build/devtools-heap.mjs missing: run node bench/devtools/build.mjs');
  process.exit(2);
}
const {loadSnapshot} = await import(bundle);

const t0 = Date.now();
const warn = console.warn;
console.warn = () => {}; // DevTools' reports of unreachable nodes
const dt = await loadSnapshot(file);
console.warn = warn;
const dtMs = Date.now() - t0;

const tmp = prefix ? null : fs.mkdtempSync(path.join(os.tmpdir(), 'memdbg-devtools-'));
const cols = prefix ?? tmp + '/m';
const t1 = Date.now();
try {
  if (!prefix) {
    execFileSync(process.env.LUA || 'lua5.4', [path.join(root, 'bench/conformance-devtools-memdbg.lua'), file, cols],
                 {stdio: ['ignore', 'inherit', 'inherit']});
  }
} catch (e) {
  fs.rmSync(tmp, {recursive: true, force: true});
  throw e;
}
const mdMs = Date.now() - t1;
const col = (name, Type) => {
  const b = fs.readFileSync(`${cols}.${name}`);
  return new Type(b.buffer, b.byteOffset, b.byteLength / Type.BYTES_PER_ELEMENT);
};
const m = {
  id: col('id', Uint32Array), self: col('self', Float64Array), retained: col('retained', Float64Array),
  distance: col('distance', Uint32Array), dominator: col('dominator', Uint32Array), cls: col('class', Uint32Array),
};
const classLines = fs.readFileSync(`${cols}.classes`, 'utf8').split('\n');
classLines.pop();
const mClassKey = classLines.map(l => {
  const [name, loc] = l.split('\t');
  return loc === '-' ? ',' + name : loc + ',' + name;
});
const n = dt.nodeCount;
const nf = dt.nodeFieldCount;
if (m.id.length !== n) throw new Error(`node counts differ: DevTools ${n}, memdbg ${m.id.length}`);
const node = dt.createNode(0);
const UNREACHED = 0xFFFFFFFF;
const diff = {self: [], retained: [], distance: [], dominator: [], class: [], id: []};
let bothEqual = 0;
for (let i = 0; i < n; i++) {
  node.nodeIndex = i * nf;
  const id = node.id();
  if (id !== m.id[i]) diff.id.push(i);
  if (node.selfSize() !== m.self[i]) diff.self.push(i);
  const r = node.retainedSize() === m.retained[i];
  if (!r) diff.retained.push(i);
  const dd = dt.nodeDistances[i];
  const d = dd === -5 ? m.distance[i] === UNREACHED : dd === m.distance[i];
  if (!d) diff.distance.push(i);
  if (r && d) bothEqual++;
  if (dt.dominatorsTree[i] !== m.dominator[i]) diff.dominator.push(i);
  const key = node.classKeyInternal();
  const dkey = typeof key === 'number' ? ',' + dt.strings[key] : key;
  if (dkey !== mClassKey[m.cls[i]]) diff.class.push(i);
}

// the Summary: DevTools' aggregates (its Map by internal class key, before
// getAggregatesByClassKey turns the keys into strings: two classes whose
// names are one string twice, e.g. objects named "Function" and the closures'
// "Function", then overwrite each other in its record, a DevTools defect
// counted apart here) against memdbg's count, shallow size and distance
// computed from its columns, and its retained size from snap:summary.
const aggMap = dt.buildAggregates();
dt.calculateClassesRetainedSize(aggMap);
const agg = Object.create(null);
let collisions = 0;
for (const [k, a] of aggMap) {
  const key = typeof k === 'number' ? ',' + dt.strings[k] : k;
  if (agg[key]) {
    collisions++;
    agg[key] = {count: agg[key].count + a.count, self: agg[key].self + a.self, maxRet: NaN,
                distance: Math.min(agg[key].distance, a.distance), collided: true};
  } else {
    agg[key] = a;
  }
}
const retained = new Map();
for (const line of fs.readFileSync(`${cols}.summary`, 'utf8').split('\n')) {
  const tab = line.lastIndexOf('\t');
  if (tab > 0) retained.set(line.slice(0, tab), Number(line.slice(tab + 1)));
}
const mine = new Map();
for (let i = 0; i < n; i++) {
  if (!m.self[i]) continue;
  const k = mClassKey[m.cls[i]];
  let a = mine.get(k);
  if (!a) mine.set(k, a = {count: 0, self: 0, distance: Infinity, unreached: false});
  a.count++;
  a.self += m.self[i];
  if (m.distance[i] === UNREACHED) a.unreached = true;
  else a.distance = Math.min(a.distance, m.distance[i]);
}
const classDiff = [];
let classes = 0;
for (const [key, a] of Object.entries(agg)) {
  classes++;
  const b = mine.get(key);
  const dist = b && (b.unreached ? -5 : b.distance);
  const ret = retained.get(key);
  if (!b || b.count !== a.count || b.self !== a.self || dist !== a.distance || (!a.collided && ret !== a.maxRet)) {
    classDiff.push({key, devtools: {count: a.count, self: a.self, retained: a.maxRet, distance: a.distance},
                    memdbg: b ? {...b, retained: ret} : null});
  }
}
for (const key of mine.keys()) {
  if (!(key in agg)) classDiff.push({key, devtools: null, memdbg: mine.get(key)});
}

const pct = x => (100 * x / n).toFixed(3) + ' %';
const name = i => {
  node.nodeIndex = i * nf;
  return `${node.className()} @${node.id()}`;
};
console.log(`${file}: ${n} nodes, DevTools ${dtMs} ms, memdbg ${mdMs} ms`);
console.log(`  retained size equal: ${n - diff.retained.length} (${pct(n - diff.retained.length)})`);
console.log(`  distance equal:      ${n - diff.distance.length} (${pct(n - diff.distance.length)})`);
console.log(`  both equal:          ${bothEqual} (${pct(bothEqual)})`);
console.log(`  dominator equal:     ${n - diff.dominator.length} (${pct(n - diff.dominator.length)})`);
console.log(`  self size equal:     ${n - diff.self.length}, class equal: ${n - diff.class.length}, ids equal: ${n - diff.id.length}`);
console.log(`  classes: ${classes} in DevTools, ${mine.size} in memdbg, ${classDiff.length} differ (count, shallow or` +
            ` retained size, distance); ${collisions} DevTools key collision(s) merged`);
for (const [kind, list] of Object.entries(diff)) {
  for (const i of list.slice(0, SHOW)) {
    node.nodeIndex = i * nf;
    const dd = dt.dominatorsTree[i];
    console.log(`  ${kind}: ${name(i)} self ${node.selfSize()}/${m.self[i]} retained ${node.retainedSize()}/${m.retained[i]}` +
                ` distance ${dt.nodeDistances[i]}/${m.distance[i]} dominator ${name(dd)}/${name(m.dominator[i])}` +
                (kind === 'class' ? ` class ${JSON.stringify(node.classKeyInternal())}/${mClassKey[m.cls[i]]}` : ''));
  }
}
for (const c of classDiff.slice(0, SHOW)) console.log('  class:', JSON.stringify(c));
if (tmp) fs.rmSync(tmp, {recursive: true, force: true});
const ok = classDiff.length === 0 && bothEqual >= 0.999 * n;
if (json) {
  console.log(JSON.stringify({
    file: path.basename(file), nodes: n, retainedEqual: n - diff.retained.length, distanceEqual: n - diff.distance.length,
    bothEqual, dominatorEqual: n - diff.dominator.length, selfEqual: n - diff.self.length, classEqual: n - diff.class.length,
    classes, classesDiffer: classDiff.length, keyCollisions: collisions, ok,
  }));
}
process.exit(ok ? 0 : 1);
