--- memdbg.analysis.heap: heap snapshot analysis (V8 .heapsnapshot and JSC/Bun snapshots).
--
--   local heap = require "memdbg.analysis.heap"
--   local snap, err, code = heap.load("a.heapsnapshot", { onProgress = function(done, total) end, raw = false })
--   snap.nodeCount, snap.edgeCount, snap.format ("v8" | "jsc"), snap.totalSize, snap.raw
--   snap:summary{ top = 50 }   -> { {name, count, shallowSize, retainedSize, distance?, location?}, ... } by
--                                 retainedSize desc (location: the constructor's, when DevTools splits the
--                                 class by it)
--   snap:diff(base)            -> { {name, new, deleted, delta, allocSize, freedSize, sizeDelta, location?}, ... }
--                                 by sizeDelta desc, and {matchedBy = "id" | "class", sharedIds,
--                                 disagreeingIds}: objects are matched by id, unless the ids were
--                                 renumbered (another profiling session: shared ids name objects of
--                                 another type or name), then classes are compared by count and size
--                                 (new/allocSize: growth, deleted/freedSize: shrinking)
--   snap:node(id)              -> {id, name, className, type, selfSize, retainedSize, distance, edgeCount,
--                                  dominatorId, detached?, traceNodeId?, location?}   | nil, err, "ERANGE"
--   snap:location(id)          -> {url, line, column, scriptId} where a function was defined, or an object's
--                                 constructor (1-based; url from the snapshot's own Script node, absent if it
--                                 names none) | nil when the node has no location | nil, err, "ERANGE"
--   snap:retainerPath(id)      -> array of steps from a GC root down to the node | nil, err, code
-- The query API (docs/heap-queries.md; ids everywhere, nil, err, "ERANGE" for an id not in the snapshot):
--   snap:instances(className, { limit = n }) -> ids of every object of that class (self size > 0, as the
--                                 summary counts them), largest retained size first; and how many there are
--   snap:edges(id)             -> { {name, type, to}, ... } its references, in the snapshot's order
--   snap:retainers(id)         -> { {name, type, from}, ... } the references to it
--   snap:dominator(id)         -> id of its immediate dominator (nil for the root)
--   snap:dominated(id)         -> ids of the nodes it immediately dominates, largest retained size first
--   (edge names are strings, or integers for element and hidden edges)
--   snap:top{ n = 20 }         -> the n largest objects by retained size (tables as snap:node returns)
--   snap:detached()            -> detached DOM nodes per class {name, count, retainedSize}
--   snap:allocationSites{top=} -> live objects per allocation site, largest live size first (snapshots taken
--                                 with allocation tracking): {traceNodeId, functionName, scriptName, line,
--                                 column, liveCount, liveSize} (line and column 1-based, absent when unknown)
--   snap:allocationFunctions{top=} -> the same per function (DevTools' Allocation view, bottom-up):
--                                 {functionName, url, line, column, count, size (allocated while it was
--                                 the top frame), totalSize (while on the stack), liveCount, liveSize},
--                                 largest live size first, then allocated size
--   snap:close()               -> frees the native memory now (idempotent; also on __gc / __close)
--   heap.findLeaks{ baseline = "a", target = "b", final = "c", onProgress = fn, raw = false }
--       -> groups, {nodeCount, classes}: one group per (holder, leaked class), the program's own classes
--          first, then by retained size: {class, count, growth = {first, second}, grown, retainedSize,
--          exampleId, nested, retainerPath = {"step", ...}, signature,
--          holder = {class, id, label, retainerPath, edges = {baseline, target, final}, growing},
--          location = {url, line, column} | nil, allocationStack = {frames, share} | nil}
--
-- Retainer path steps are tables { text, id, name, className, type, edge, edgeType, location? }: the first step is
-- the root's child the path starts from (text is its label, e.g. "global @6049" or "(GC roots) @3"), every
-- later step's text reads "edge (edgeType) → Class @id", so table.concat of the texts with " → " gives
-- e.g. "global @6049 → cache (property) → Map @123 → [0] (element) → Foo @456". findLeaks paths are the
-- text strings alone.
--
-- Failures (missing, unreadable, truncated or malformed files) return nil, message, code with code one of
-- "ENOENT", "EIO", "EFORMAT", "ETRUNCATED", "ERANGE", "ENOMEM"; messages name the byte offset and what was
-- expected there (findLeaks checks the baseline and target as fully as a load does). findLeaks also fails
-- with "EIDS" when the snapshots do not number their objects alike: the ids they share name objects of
-- another type or name (another profiling session: V8 numbers objects afresh in each), or they share under
-- 1 % of their ids (another process; JSC renumbers every object in each Bun.generateHeapSnapshot()).
-- Argument mistakes raise errors.
--
-- The numbers are Chrome DevTools' (its HeapSnapshot.ts, checked node by node by bench/conformance-devtools):
-- - self sizes: an (array), hidden or ExternalStringData node that one object alone holds gives its size to
--   that object (a Map shows its table's memory), unless the root has no user roots;
-- - dominators ignore weak edges, self edges, shortcut edges not from the root, WeakMap table->value edges
--   ("<n> / part of key ... (table @t)") and edges from objects outside the page-owned set (what the root's
--   shortcut edges, e.g. Node's global, reach) into it; nodes none of whose retaining edges counts hang
--   from the root with what they hold, and cliques nothing else holds are numbered from the root one by one;
-- - distances: BFS from the user roots (the root's non-synthetic children and "(Document DOM trees)") at 1,
--   then from the root, which sits at 100000000 when there are user roots (so system-only objects get that
--   much added) and 0 otherwise; weak edges, a NativeContext's sloppy_function_map, "(map descriptors)"
--   descriptor slots and the first edge met of each WeakMap entry are not followed; unreachable nodes have
--   no distance (a class with one has none either);
-- - class names: objects and native nodes by constructor name, closures "Function", regexps "RegExp",
--   plain objects by their properties ("{a, b}"), DOM elements by tag ("<div>"), detached DOM nodes
--   "Detached <name>", hidden nodes "(system)", code "(compiled code)", others "(<type>)"; objects whose
--   constructors share a name but not a source location are separate classes. The summary skips nodes of
--   self size 0.
-- raw = true keeps V8's own self sizes and names ("(closure)", "(regexp)", "Object", no location split, no
-- DOM state propagation); dominators and distances follow the rules above either way.
-- For JSC snapshots the root is the node with id 0 ("<root>") and nodes are grouped by JSC class name.
local core = require "memdbg._heap"
local ARROW = require("memdbg.util.format").ARROW

local heap = {}

local Snapshot = {}
Snapshot.__index = Snapshot

local function wrap(ud)
  local info = ud:info()
  return setmetatable({
    _ud = ud,
    nodeCount = info.nodeCount,
    edgeCount = info.edgeCount,
    format = info.format,
    totalSize = info.totalSize,
    hasAllocationTraces = info.hasAllocationTraces,
    raw = info.raw,
  }, Snapshot)
end

local function opt_table(t, fname)
  if t == nil then return {} end
  if type(t) ~= "table" then error(fname .. ": options must be a table", 3) end
  return t
end

local function check_id(id, fname)
  if math.type then
    if math.type(id) ~= "integer" then
      if type(id) == "number" and id == math.floor(id) then return math.floor(id) end
      error(fname .. ": node id must be an integer, got " .. tostring(id), 3)
    end
  elseif type(id) ~= "number" or id ~= math.floor(id) then
    error(fname .. ": node id must be an integer, got " .. tostring(id), 3)
  end
  return id
end

--- heap.load(path[, opts]) -> snapshot | nil, message, code
function heap.load(path, opts)
  if type(path) ~= "string" then error("heap.load: path must be a string", 2) end
  opts = opt_table(opts, "heap.load")
  if opts.onProgress ~= nil and type(opts.onProgress) ~= "function" then
    error("heap.load: onProgress must be a function", 2)
  end
  local ud, err, code = core.load(path, opts.onProgress, opts.raw and true or false)
  if not ud then return nil, err, code end
  return wrap(ud)
end

--- heap.parse(text[, opts]) -> snapshot | nil, message, code   (a snapshot held in a Lua string)
function heap.parse(text, opts)
  if type(text) ~= "string" then error("heap.parse: text must be a string", 2) end
  opts = opt_table(opts, "heap.parse")
  local ud, err, code = core.parse(text, opts.raw and true or false)
  if not ud then return nil, err, code end
  return wrap(ud)
end

local function ud_of(self, fname)
  if getmetatable(self) ~= Snapshot then error(fname .. ": call it as snap:" .. fname .. "(...)", 3) end
  if not self._ud then error(fname .. ": the snapshot is closed", 3) end
  return self._ud
end

function Snapshot:summary(opts)
  local ud = ud_of(self, "summary")
  opts = opt_table(opts, "summary")
  if opts.top ~= nil and type(opts.top) ~= "number" then error("summary: top must be a number", 2) end
  return ud:summary(opts.top or 0)
end

function Snapshot:diff(base)
  local ud = ud_of(self, "diff")
  if getmetatable(base) ~= Snapshot then error("diff: base must be a snapshot from heap.load", 2) end
  if not base._ud then error("diff: the base snapshot is closed", 2) end
  return ud:diff(base._ud)
end

-- The engine answers an id it does not know (ERANGE) or cannot reach (EUNREACHABLE) with a code alone.
local FAILURES = {
  ERANGE = "no node with id %s in this snapshot",
  EUNREACHABLE = "node @%s is not reachable from a GC root without weak edges",
}
local function by_id(fname, finish)
  return function(self, id)
    local ud = ud_of(self, fname)
    id = check_id(id, fname)
    local r, _, code = ud[fname](ud, id)
    if r == nil and code then return nil, string.format(FAILURES[code], tostring(id)), code end
    if finish and r ~= nil then return finish(self, r) end
    return r
  end
end

Snapshot.node = by_id("node")
Snapshot.location = by_id("location")

function Snapshot:instances(className, opts)
  local ud = ud_of(self, "instances")
  if type(className) ~= "string" then error("instances: className must be a string", 2) end
  opts = opt_table(opts, "instances")
  if opts.limit ~= nil and (type(opts.limit) ~= "number" or opts.limit < 0) then
    error("instances: limit must be a non-negative number", 2)
  end
  return ud:instances(className, opts.limit and math.floor(opts.limit) or 0)
end

Snapshot.edges = by_id("edges")
Snapshot.retainers = by_id("retainers")
Snapshot.dominator = by_id("dominator")
Snapshot.dominated = by_id("dominated")

Snapshot.retainerPath = by_id("retainerPath", function(self, steps)
  local format, step_text = self.format, heap.stepText
  for i, st in ipairs(steps) do
    st.text = step_text(st, i == 1, format)
    if st.indexed then st.indexed = nil end
  end
  return steps
end)

function Snapshot:top(opts)
  local ud = ud_of(self, "top")
  opts = opt_table(opts, "top")
  if opts.n ~= nil and type(opts.n) ~= "number" then error("top: n must be a number", 2) end
  return ud:top(opts.n or 20)
end

function Snapshot:detached()
  return ud_of(self, "detached"):detached()
end

function Snapshot:allocationSites(opts)
  local ud = ud_of(self, "allocationSites")
  opts = opt_table(opts, "allocationSites")
  local sites = ud:allocationSites()
  table.sort(sites, function(a, b)
    if a.liveSize ~= b.liveSize then return a.liveSize > b.liveSize end
    return a.traceNodeId < b.traceNodeId
  end)
  if opts.top and opts.top > 0 then
    for i = #sites, opts.top + 1, -1 do sites[i] = nil end
  end
  return sites
end

function Snapshot:allocationFunctions(opts)
  local ud = ud_of(self, "allocationFunctions")
  opts = opt_table(opts, "allocationFunctions")
  local rows = ud:allocationFunctions()
  table.sort(rows, function(a, b)
    if a.liveSize ~= b.liveSize then return a.liveSize > b.liveSize end
    if a.size ~= b.size then return a.size > b.size end
    return a.functionName < b.functionName
  end)
  if opts.top and opts.top > 0 then
    for i = #rows, opts.top + 1, -1 do rows[i] = nil end
  end
  return rows
end

--- Frees the native memory; safe to call more than once.
function Snapshot:close()
  if self._ud then
    self._ud:close()
    self._ud = nil
  end
end

Snapshot.__close = Snapshot.close
Snapshot.__gc = Snapshot.close -- Lua 5.4; under LuaJIT the userdata's own __gc frees it

function Snapshot:__tostring()
  if not self._ud then return "heap snapshot (closed)" end
  return string.format("heap snapshot (%s, %d nodes, %d edges)", self.format == "jsc" and "JSC" or "V8",
    self.nodeCount, self.edgeCount)
end

--- heap.trackingSites(path[, {top = 20}]) -> sites | nil, message, code: the
--- allocation sites (functions) of a snapshot taken with allocation tracking,
--- most bytes allocated first: {functionName, url, line, column, count, self
--- (bytes allocated while the top frame), total (while on the stack),
--- liveCount, liveSize} (snap:allocationFunctions under the names
--- profile.format_sites reads; top = 0 for all). A snapshot without
--- allocation traces (JSC, or tracking was off) is ENOTRACES.
function heap.trackingSites(path, opts)
  opts = opt_table(opts, "heap.trackingSites")
  local snap, err, code = heap.load(path)
  if not snap then return nil, err, code end
  if not snap.hasAllocationTraces then
    snap:close()
    return nil, path .. " holds no allocation traces (no trace_tree: not taken while tracking allocations)",
      "ENOTRACES"
  end
  local rows = snap:allocationFunctions()
  snap:close()
  -- what a function allocated first (a tracking run's question), then what of it lives
  table.sort(rows, function(a, b)
    if a.size ~= b.size then return a.size > b.size end
    if a.liveSize ~= b.liveSize then return a.liveSize > b.liveSize end
    return a.functionName < b.functionName
  end)
  local sites, top = {}, opts.top == nil and 20 or opts.top
  for _, r in ipairs(rows) do
    if top > 0 and #sites >= top then break end
    if r.functionName ~= "(root)" then -- the trace tree's root is no site
      sites[#sites + 1] = { functionName = r.functionName ~= "" and r.functionName or "(anonymous)", url = r.url,
        line = r.line, column = r.column, count = r.count, self = r.size, total = r.totalSize,
        liveCount = r.liveCount, liveSize = r.liveSize }
    end
  end
  return sites
end

-- A node as people read it: its class, and its name where the class does not
-- say it already (closures, strings, hidden nodes; strings quoted, names cut
-- at 60 bytes on a UTF-8 boundary), then its id: "Function handleRequests @40875",
-- "string \"GET /a\" @7". Objects, native nodes and JSC snapshots' nodes by
-- class alone: "Map @40843".
local QUOTED = { string = true, ["concatenated string"] = true, ["sliced string"] = true }
local BY_CLASS = { object = true, native = true }
function heap.label(node, format)
  local name = node.name or ""
  if format == "jsc" or BY_CLASS[node.type] or name == "" then return node.className .. " @" .. node.id end
  if #name > 60 then
    local n = 60
    while n > 0 and name:byte(n + 1) >= 0x80 and name:byte(n + 1) < 0xC0 do n = n - 1 end
    name = name:sub(1, n) .. "..."
  end
  if QUOTED[node.type] then name = '"' .. name .. '"' end
  return node.className .. " " .. name .. " @" .. node.id
end

-- One step of a retainer path as text: the first is the node it starts from,
-- each later one "edge (edgeType) → Class @id" ("[3] (element) → ..." for an index).
-- (Concatenation: a path query makes one of these a step, string.format costs more.)
local SEP = " " .. ARROW .. " "
local label_of = heap.label
function heap.stepText(st, first, format)
  local label = label_of(st, format)
  if first then return label end
  local edge = st.indexed and ("[" .. st.edge .. "]") or st.edge
  return edge .. " (" .. st.edgeType .. ")" .. SEP .. label
end

-- A retainer path as text, one string a step: the first step is the node the path starts from,
-- each later one "edge (edgeType) → Class @id". A run of collapsing steps (element indexes,
-- Map/Set table slots, linked-list links such as `_idleNext`) through one class is one step:
-- "_idleNext (property) ×37 → Timeout @123" (the last node of the run).
function heap.pathText(steps)
  local out = {}
  local i = 1
  while i <= #steps do
    local st = steps[i]
    local j = i
    if i > 1 and st.collapses then
      while steps[j + 1] and steps[j + 1].collapses and steps[j + 1].className == st.className
        and (steps[j + 1].edge == st.edge or (st.indexed and steps[j + 1].indexed)) do
        j = j + 1
      end
    end
    local last = steps[j]
    local edge = st.indexed and ("[" .. (j > i and "…" or st.edge) .. "]") or st.edge
    if i == 1 then
      out[#out + 1] = st.label
    elseif j > i then
      out[#out + 1] = string.format("%s (%s) ×%d %s %s", edge, st.edgeType, j - i + 1, ARROW, last.label)
    else
      out[#out + 1] = string.format("%s (%s) %s %s", edge, st.edgeType, ARROW, st.label)
    end
    i = j + 1
  end
  return heap.foldRepeats(out)
end

-- Folds a block of steps that repeats (a chain of closures and contexts, each holding the
-- previous object: "describe (property) → … → previous (context) → Report") into its first
-- occurrence and a "… ×N" line, comparing steps without their ids.
function heap.foldRepeats(texts)
  local key = {}
  for i, t in ipairs(texts) do key[i] = t:gsub(" @%d+", "") end
  local out, i = {}, 1
  while i <= #texts do
    local folded = false
    for len = 1, 6 do
      local reps = 1
      while i + (reps + 1) * len - 1 <= #texts do
        local same = true
        for k = 0, len - 1 do
          if key[i + k] ~= key[i + reps * len + k] then same = false break end
        end
        if not same then break end
        reps = reps + 1
      end
      if reps >= 3 then
        for k = 0, len - 1 do out[#out + 1] = texts[i + k] end
        out[#out + 1] = string.format("… the %d step%s above repeat %d times …", len, len == 1 and "" or "s",
          reps - 1)
        i = i + reps * len
        folded = true
        break
      end
    end
    if not folded then
      out[#out + 1] = texts[i]
      i = i + 1
    end
  end
  return out
end

--- heap.findLeaks{baseline=, target=, final=[, onProgress=]} -> groups, info | nil, message, code
--- info = {nodeCount=, classes = {{class, first, second, size}, ...}} (classes both actions grew)
function heap.findLeaks(opts)
  if type(opts) ~= "table" then error("heap.findLeaks: expects a table {baseline=, target=, final=}", 2) end
  for _, k in ipairs { "baseline", "target", "final" } do
    if type(opts[k]) ~= "string" then error("heap.findLeaks: " .. k .. " must be a file path", 2) end
  end
  if opts.onProgress ~= nil and type(opts.onProgress) ~= "function" then
    error("heap.findLeaks: onProgress must be a function", 2)
  end
  local groups, nodes, classes, format, shared, disagree = core.findLeaks(opts.baseline, opts.target,
    opts.final, opts.onProgress, opts.raw and true or false)
  if not groups then
    if classes == "EIDS" then
      return nil, string.format("%s and %s do not number their objects alike (%d ids in common, %d of them name "
        .. "objects of another type or name): node ids only match between snapshots of one profiling session of "
        .. "one process", format == 1 and opts.baseline or opts.target, opts.final, shared, disagree), "EIDS"
    end
    return nil, nodes, classes
  end
  local function labelled(path)
    for _, st in ipairs(path) do st.label = heap.label(st, format) end
    return path
  end
  for _, g in ipairs(groups) do
    g.grown = g.growth[2]
    g.retainerPath = heap.pathText(labelled(g.path))
    g.path = nil
    g.signature = string.format("%08x%08x", g.signature[1], g.signature[2])
    local h = g.holder
    h.label = heap.label(h, format)
    -- a GC root ("(Global handles)", "(GC roots)") is named, not "(synthetic)"
    h.class = (h.type == "synthetic" and h.name ~= "") and h.name or h.className
    h.name, h.className, h.type = nil, nil, nil
    h.retainerPath = heap.pathText(labelled(h.path))
    h.path = nil
    for i = 1, 3 do
      if h.edges[i] == false then h.edges[i] = nil end
    end
    if g.functionName then
      g.class = g.class .. " " .. (g.functionName ~= "" and g.functionName or "(anonymous)")
    end
    if g.allocation then
      local a = g.allocation
      g.allocationStack = { frames = a.frames, share = g.count > 0 and a.count / g.count or 0 }
      g.allocation = nil
    end
  end
  return groups, { nodeCount = nodes, classes = classes }
end

return heap
