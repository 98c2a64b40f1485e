// Conformance of memdbg's retained sizes with MemLab's, on one snapshot.
//   node --max-old-space-size=16000 bench/conformance.js FILE [TOP]
// MemLab: getFullHeapFromFile (its dominators and retainedSize per node).
// memdbg: bench/conformance-memdbg.lua (snap:node(id) for every id MemLab has,
// snap:top{n=TOP}, snap:summary{}).
// Compares every node by id, the top TOP objects, and every summary class
// (MemLab has no class view: its per-class numbers are computed here with the
// rule memdbg's summary documents, on MemLab's dominator tree). Every node
// whose retained size differs is explained by the rule behind it:
//   a "root cause" is a node whose immediate dominator differs; each one is
//   put in one category by the edge rule that makes the dominators differ, and
//   a node's retained size can differ only if it is an ancestor of a root cause
//   in one of the two dominator trees (its subtree differs), so each differing
//   node is explained by the categories of the root causes below it.
// Categories (MemLab 2.0.5's TraceFinder vs DevTools' rules, which memdbg follows):
//   weakmap   MemLab keeps the WeakMap table -> value internal edge
//             ("part of key (...) -> value (...) pair in WeakMap (table @N)");
//             DevTools keeps only the key -> value one, so memdbg hangs the value
//             under its key and MemLab under the join of key and table.
//   page      both drop edges from a node that is not "page-owned" into one that is,
//             but DevTools (and memdbg since c308439) flags the nodes reached from the
//             root's shortcut edges (Node: `global`), MemLab those reached from the
//             root's other edges; a retainer edge one of them drops explains it.
//   orphan    nodes no essential path reaches under DevTools' rules (weakly held,
//             or cut off by the WeakMap or page-owned rule): DevTools DFSes from
//             those whose retainers are all non-essential, memdbg (c308439) and
//             MemLab from those whose retainers are all weak/shortcut by type, and
//             hang the rest from the root one by one, so what lies below differs.
//   derived   the dominator differs only because a retainer's did (a root cause
//             reachable from another root cause).
//   other     none of the above: a real disagreement, printed in full.
// Prints a report (text); --json prints the numbers as one JSON object too.
'use strict';
const path = require('path');
const fs = require('fs');
const os = require('os');
const { execFileSync } = require('child_process');

const file = process.argv[2];
const TOP = Number(process.argv[3] || 100);
if (!file) {
  console.error('usage: node bench/conformance.js FILE [TOP]');
  process.exit(2);
}
const root = path.join(__dirname, '..');
const { getFullHeapFromFile } = require(path.join(root, 'tools', 'js', 'node_modules', '@memlab', 'heap-analysis'));
// V8 names the edge "<n> / part of key (K @k) -> value (V @v) pair in WeakMap (table @t)"
// (an auto index first); hand-written fixtures may leave the index out
const EPHEMERON = /^(?:\d+ \/ )?part of key \(.* @\d+\) -> value \(.* @\d+\) pair in WeakMap \(table @(\d+)\)$/;
const tableOf = (e) => { const m = EPHEMERON.exec(String(e.name_or_index)); return m ? Number(m[1]) : -1; };

// memdbg's summary class of a node. MemLab's node.name prefixes "Detached " to
// nodes whose detachedness is 2; memdbg groups them under their own name
// (snap:detached() reports them): the prefix is taken off to compare classes.
let renamedDetached = 0;
function className(node) {
  if (node.type === 'object' || node.type === 'native') {
    const name = node.name;
    if (node.is_detached && name.startsWith('Detached ')) return name.slice(9);
    return name;
  }
  if (node.type === 'hidden') return '(system)';
  if (node.type === 'code') return '(compiled code)';
  return `(${node.type})`;
}

(async () => {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = () => true; // MemLab's progress lines
  const heap = await getFullHeapFromFile(file);
  process.stdout.write = write;
  const nodes = heap.nodes;
  const n = nodes.length;
  const ROOT = 0;

  // memdbg's answers for the same ids
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memdbg-conf-'));
  const idsFile = path.join(tmp, 'ids');
  const ids = new Array(n);
  nodes.forEach((node, i) => { ids[i] = node.id; });
  fs.writeFileSync(idsFile, ids.join('\n') + '\n');
  const text = execFileSync('lua5.4', [path.join(__dirname, 'conformance-memdbg.lua'), file, idsFile, String(TOP)],
    { maxBuffer: 1 << 30, encoding: 'utf8' });
  fs.rmSync(tmp, { recursive: true, force: true });
  const md = new Map(); // id -> {ret, dom, self, dist}
  const mdTop = [];
  const mdClasses = new Map();
  for (const line of text.split('\n')) {
    if (line.startsWith('N ')) {
      const f = line.split(' ');
      if (f[2] === '-') continue;
      md.set(Number(f[1]), { ret: Number(f[2]), dom: Number(f[3]), self: Number(f[4]), dist: f[5] === '-' ? null : Number(f[5]) });
    } else if (line.startsWith('T ')) {
      const f = line.split(' ');
      mdTop.push({ id: Number(f[1]), ret: Number(f[2]) });
    } else if (line.startsWith('C ')) {
      const m = /^C (\d+) (\d+) (\d+) (.*)$/.exec(line);
      mdClasses.set(m[4], { retained: Number(m[1]), count: Number(m[2]), shallow: Number(m[3]) });
    }
  }

  // MemLab's side, by ordinal
  const ordOf = new Map();
  const mlDom = new Int32Array(n); // MemLab dominator ordinal
  nodes.forEach((node, i) => { ordOf.set(node.id, i); });
  nodes.forEach((node, i) => { mlDom[i] = node.dominatorNode ? node.dominatorNode.nodeIndex : ROOT; });
  const mdDom = new Int32Array(n).fill(-1); // memdbg dominator ordinal
  for (let i = 0; i < n; i++) {
    const m = md.get(ids[i]);
    if (m && m.dom >= 0 && ordOf.has(m.dom)) mdDom[i] = ordOf.get(m.dom);
  }

  // MemLab's "page-owned" flags (TraceFinder.flagReachableNodesFromWindow)
  const page = new Uint8Array(n);
  const stack = [];
  for (const e of nodes.get(ROOT).references) {
    if (e.type === 'shortcut') continue;
    if (e.type === 'element' && e.toNode.name === '(Document DOM trees)') continue;
    page[e.toNode.nodeIndex] = 1;
    stack.push(e.toNode.nodeIndex);
  }
  while (stack.length) {
    const v = stack.pop();
    for (const e of nodes.get(v).references) {
      const w = e.toNode.nodeIndex;
      if (page[w] || e.type === 'weak') continue;
      page[w] = 1;
      stack.push(w);
    }
  }
  // DevTools flags "page-owned" nodes from the root's *shortcut* edges (the
  // global objects: Node's root has one, to `global`) and the (Document DOM
  // trees) root, then every non-weak edge; its dominators skip edges from
  // non-page-owned into page-owned nodes, as MemLab's do with its own flags.
  // MemLab's dominator pass run with DevTools' flags is a second reference:
  // what is left between it and memdbg is DevTools' WeakMap rule (which
  // MemLab's pass lacks) and orphan handling.
  const dtPage = new Uint32Array(n);
  for (const e of nodes.get(ROOT).references) {
    if (e.type === 'shortcut' || (e.type === 'element' && e.toNode.name === '(Document DOM trees)')) {
      dtPage[e.toNode.nodeIndex] = 1;
      stack.push(e.toNode.nodeIndex);
    }
  }
  while (stack.length) {
    const v = stack.pop();
    for (const e of nodes.get(v).references) {
      const w = e.toNode.nodeIndex;
      if (dtPage[w] || e.type === 'weak') continue;
      dtPage[w] = 1;
      stack.push(w);
    }
  }
  const basicEssential = (from, e, to) =>
    from !== to && e.type !== 'weak' && (e.type !== 'shortcut' || from === ROOT);
  const devtoolsEssential = (from, e, to) =>
    from !== to && e.type !== 'weak' && (e.type !== 'shortcut' || from === ROOT) &&
    !(e.type === 'internal' && tableOf(e) === nodes.get(from).id);

  // what an essential path reaches under DevTools' rules (weak, self, non-root
  // shortcut and WeakMap table edges out, page-owned rule applied)
  const dtReach = new Uint8Array(n);
  dtReach[ROOT] = 1;
  stack.push(ROOT);
  while (stack.length) {
    const v = stack.pop();
    for (const e of nodes.get(v).references) {
      const w = e.toNode.nodeIndex;
      if (dtReach[w] || !devtoolsEssential(v, e, w) || (v !== ROOT && dtPage[w] && !dtPage[v])) continue;
      dtReach[w] = 1;
      stack.push(w);
    }
  }

  // root causes: the immediate dominator differs
  const cause = new Map(); // ordinal -> category
  for (let i = 0; i < n; i++) {
    if (i === ROOT || mdDom[i] === mlDom[i]) continue;
    const node = nodes.get(i);
    let cat = null;
    node.forEachReferrer((e) => {
      if (cat) return;
      if (e.type === 'internal' && tableOf(e) >= 0) cat = 'weakmap';
    });
    if (!cat) {
      node.forEachReferrer((e) => {
        if (cat) return;
        const u = e.fromNode.nodeIndex;
        // one tool's page-owned rule drops an edge the other keeps
        if (u !== ROOT && ((page[i] && !page[u]) || (dtPage[i] && !dtPage[u])) && basicEssential(u, e, i)) cat = 'page';
      });
    }
    if (!cat && !dtReach[i]) cat = 'orphan';
    cause.set(i, cat);
  }
  // derived: some essential retainer is itself below a root cause in either tree
  const below = (v, tree) => { // is v in the subtree of a categorised root cause?
    for (let k = 0; k < 10000 && v !== ROOT && v >= 0; k++) {
      if (cause.get(v)) return true;
      v = tree[v];
    }
    return false;
  };
  // (to a fixed point: a retainer's own root cause may be derived itself)
  for (let changed = true; changed;) {
    changed = false;
    for (const [i, cat] of cause) {
      if (cat) continue;
      let derived = false;
      nodes.get(i).forEachReferrer((e) => {
        const u = e.fromNode.nodeIndex;
        if (!derived && devtoolsEssential(u, e, i) && (below(u, mdDom) || below(u, mlDom))) derived = true;
      });
      if (derived) { cause.set(i, 'derived'); changed = true; }
    }
  }
  for (const [i, cat] of cause) if (!cat) cause.set(i, 'other');
  // every ancestor of a root cause, in both trees, carries its category
  const why = new Map(); // ordinal -> Set of categories
  for (const [i, cat] of cause) {
    for (const tree of [mdDom, mlDom]) {
      let v = i;
      for (let k = 0; k < n && v >= 0; k++) {
        let s = why.get(v);
        if (!s) why.set(v, (s = new Set()));
        if (s.has(cat) && v !== i) break;
        s.add(cat);
        if (v === ROOT) break;
        v = tree[v];
      }
    }
  }

  const TraceFinder = require(path.join(root, 'tools', 'js', 'node_modules', '@memlab', 'core', 'dist', 'paths', 'TraceFinder.js')).default;
  const dt = new TraceFinder().computeDominatorsAndRetainedSizes(heap, dtPage);
  let dtDiffer = 0, pageOwned = 0;
  const dtClasses = new Map();
  for (let i = 0; i < n; i++) {
    if (dtPage[i]) pageOwned++;
    const m = md.get(ids[i]);
    if (m && m.ret !== dt.retainedSizes[i]) {
      dtDiffer++;
      const c = className(nodes.get(i));
      dtClasses.set(c, (dtClasses.get(c) || 0) + 1);
    }
  }

  // per node
  let compared = 0, equal = 0, missing = 0, selfDiff = 0;
  const diffBy = {};
  const unexplained = [];
  const key = (s) => [...s].sort().join('+');
  for (let i = 0; i < n; i++) {
    const m = md.get(ids[i]);
    if (!m) { missing++; continue; }
    compared++;
    const node = nodes.get(i);
    if (m.self !== node.self_size) selfDiff++;
    if (m.ret === node.retainedSize) { equal++; continue; }
    const s = why.get(i);
    if (!s) { unexplained.push(i); continue; }
    const k = key(s);
    diffBy[k] = (diffBy[k] || 0) + 1;
  }
  const causes = {};
  for (const cat of cause.values()) causes[cat] = (causes[cat] || 0) + 1;

  // top N: memdbg's list against MemLab's own largest (root and synthetic excluded, as snap:top does)
  const mlTop = [];
  for (let i = 0; i < n; i++) {
    const node = nodes.get(i);
    if (i !== ROOT && node.type !== 'synthetic') mlTop.push(i);
  }
  mlTop.sort((a, b) => nodes.get(b).retainedSize - nodes.get(a).retainedSize);
  const mlTopIds = new Set(mlTop.slice(0, TOP).map((i) => ids[i]));
  // objects tied with the last of MemLab's top TOP: either list may cut them anywhere
  const cut = mlTop.length >= TOP ? nodes.get(mlTop[TOP - 1]).retainedSize : -1;
  const tiedAtCut = mlTop.filter((i) => nodes.get(i).retainedSize === cut).length;
  let topEqual = 0, topShared = 0;
  const topDiff = [];
  let topOutsideTies = 0;
  for (const t of mdTop) {
    if (mlTopIds.has(t.id)) topShared++;
    else if (t.ret !== cut) topOutsideTies++;
    const i = ordOf.get(t.id);
    const ml = i === undefined ? null : nodes.get(i).retainedSize;
    if (ml === t.ret) topEqual++;
    else topDiff.push({ id: t.id, cls: i === undefined ? '?' : className(nodes.get(i)), memdbg: t.ret, memlab: ml,
      why: i !== undefined && why.get(i) ? key(why.get(i)) : 'unexplained' });
  }

  // per class, memdbg's summary rule on MemLab's dominator tree
  const children = new Map();
  for (let i = 0; i < n; i++) {
    if (i === ROOT) continue;
    const d = mlDom[i];
    if (!children.has(d)) children.set(d, []);
    children.get(d).push(i);
  }
  const mlClasses = new Map();
  const row = (c) => mlClasses.get(c) || (mlClasses.set(c, { count: 0, shallow: 0, retained: 0 }), mlClasses.get(c));
  for (let i = 0; i < n; i++) {
    const node = nodes.get(i);
    if (node.is_detached && (node.type === 'object' || node.type === 'native')) renamedDetached++;
    if (!node.self_size) continue;
    const r = row(className(node));
    r.count++;
    r.shallow += node.self_size;
  }
  const seen = new Map();
  const walk = [[ROOT, false]];
  while (walk.length) {
    const [v, exit] = walk.pop();
    const node = nodes.get(v);
    const c = className(node);
    if (exit) { seen.set(c, seen.get(c) - 1); continue; }
    let marked = false;
    if (node.self_size && !seen.get(c) && v !== ROOT) {
      row(c).retained += node.retainedSize;
      seen.set(c, 1);
      marked = true;
    }
    if (marked) walk.push([v, true]);
    for (const w of children.get(v) || []) walk.push([w, false]);
  }
  let classEqual = 0, classCountEqual = 0;
  const classDiff = [];
  const classOf = new Map(); // class -> categories of the differing nodes in it
  for (let i = 0; i < n; i++) {
    const s = why.get(i);
    if (!s) continue;
    const c = className(nodes.get(i));
    if (!classOf.has(c)) classOf.set(c, new Set());
    for (const x of s) classOf.get(c).add(x);
  }
  for (const [c, m] of mdClasses) {
    const l = mlClasses.get(c) || { count: 0, shallow: 0, retained: 0 };
    if (l.count === m.count && l.shallow === m.shallow) classCountEqual++;
    if (l.retained === m.retained && l.count === m.count && l.shallow === m.shallow) classEqual++;
    else classDiff.push({ cls: c, memdbg: m.retained, memlab: l.retained, count: [m.count, l.count],
      why: classOf.has(c) ? key(classOf.get(c)) : 'unexplained' });
  }
  classDiff.sort((a, b) => Math.abs(b.memdbg - b.memlab) - Math.abs(a.memdbg - a.memlab));

  const rep = {
    file: path.basename(file), bytes: fs.statSync(file).size, nodes: n, edges: heap.edges.length,
    compared, equal, differing: compared - equal, missingInMemdbg: missing, selfSizeDiffers: selfDiff,
    rootCauses: causes, differingNodesBy: diffBy, unexplained: unexplained.length,
    top: { n: mdTop.length, equal: topEqual, sharedWithMemlabTop: topShared, tiedAtCut, notTies: topOutsideTies },
    classes: { memdbg: mdClasses.size, memlab: mlClasses.size, equal: classEqual, countAndShallowEqual: classCountEqual,
      differing: classDiff.length, detachedRenamedByMemlab: renamedDetached },
    rootRetained: { memdbg: md.get(ids[ROOT]).ret, memlab: nodes.get(ROOT).retainedSize },
  };
  console.log(`# ${rep.file}: ${n} nodes, ${rep.edges} edges, ${rep.bytes} bytes`);
  console.log(`nodes compared ${compared}, equal ${equal} (${(100 * equal / compared).toFixed(3)}%), differing ${compared - equal}, ` +
    `missing in memdbg ${missing}, self size differs ${selfDiff}`);
  console.log(`root causes (immediate dominator differs): ${JSON.stringify(causes)}`);
  console.log(`differing nodes by explanation: ${JSON.stringify(diffBy)}; unexplained ${unexplained.length}`);
  console.log(`root retained: memdbg ${rep.rootRetained.memdbg}, MemLab ${rep.rootRetained.memlab}`);
  console.log(`top ${mdTop.length}: retained equal ${topEqual}, in MemLab's own top ${TOP}: ${topShared}` +
    ` (the others are ties: ${tiedAtCut} objects retain exactly ${cut}, the ${TOP}th size; not ties: ${topOutsideTies})`);
  for (const d of topDiff.slice(0, 10)) console.log(`  top differs: @${d.id} ${d.cls} memdbg ${d.memdbg} MemLab ${d.memlab} (${d.why})`);
  console.log(`classes: memdbg ${mdClasses.size}, MemLab-side ${mlClasses.size}; equal ${classEqual}, ` +
    `count+shallow equal ${classCountEqual}, retained differs ${classDiff.length} ` +
    `(MemLab's "Detached " name prefix taken off ${renamedDetached} nodes)`);
  for (const d of classDiff.slice(0, 12)) {
    console.log(`  class differs: ${d.cls} memdbg ${d.memdbg} MemLab ${d.memlab} (${d.memlab - d.memdbg > 0 ? '+' : ''}${d.memlab - d.memdbg}) counts ${d.count.join('/')} (${d.why})`);
  }
  for (const [i, cat] of cause) {
    if (cat !== 'other') continue;
    const node = nodes.get(i);
    console.log(`  other: @${node.id} ${className(node)} MemLab dom @${ids[mlDom[i]]} memdbg dom @${mdDom[i] >= 0 ? ids[mdDom[i]] : '-'}`);
  }
  for (const i of unexplained.slice(0, 10)) {
    const node = nodes.get(i);
    console.log(`  unexplained: @${node.id} ${className(node)} memdbg ${md.get(node.id).ret} MemLab ${node.retainedSize}`);
  }
  const dtTop = [...dtClasses].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([c, k]) => `${c} ${k}`).join(', ');
  console.log(`MemLab's dominator pass with DevTools' page-owned flags (from the root's shortcut edges: ` +
    `${pageOwned} nodes) differs from memdbg on ${dtDiffer} nodes` +
    (dtDiffer ? ` (most in: ${dtTop})` : ''));
  rep.devtoolsPageRule = { pageOwned, retainedDiffersFromMemdbg: dtDiffer };
  if (process.argv.includes('--json')) console.log(JSON.stringify(rep));
})().catch((e) => {
  console.error(e && e.stack || e);
  process.exit(1);
});
