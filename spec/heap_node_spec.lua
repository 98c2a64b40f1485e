-- The heap engine on real snapshots that the specs take from Node.js
-- themselves, checked against a straight reading of the JSON with cjson.
local heap = require "memdbg.analysis.heap"
local fx = require "support.heapfixture"

local function by_name(rows)
  local t = {}
  for _, r in ipairs(rows) do t[r.name] = r end
  return t
end

local have_node = fx.have_node()
local describe_node = have_node and describe or pending

describe_node("heap engine on Node.js snapshots", function()
  local dir, plain, before, after

  setup(function()
    dir = fx.tmpdir()
    local ok, out = fx.node(dir, [==[
      const v8 = require('v8');
      class LeakyThing { constructor(i) { this.i = i; this.payload = 'p' + i; } }
      globalThis.keep = new Map([['caf\u00e9 \u{1F600}', { weak: new WeakMap() }]]);
      class WMKey {}
      class WMValue { constructor() { this.payload = new Array(16).fill(1); } }
      globalThis.wmKeys = [];
      globalThis.wm = new WeakMap();
      for (let i = 0; i < 50; i++) {
        const k = new WMKey();
        globalThis.wmKeys.push(k);
        globalThis.wm.set(k, new WMValue());
      }
      v8.writeHeapSnapshot('plain.heapsnapshot');
      v8.writeHeapSnapshot('before.heapsnapshot');
      globalThis.things = [];
      for (let i = 0; i < 1000; i++) globalThis.things.push(new LeakyThing(i));
      v8.writeHeapSnapshot('after.heapsnapshot');
    ]==])
    assert(ok, out)
    plain, before, after = dir .. "/plain.heapsnapshot", dir .. "/before.heapsnapshot", dir .. "/after.heapsnapshot"
  end)

  teardown(fx.cleanup)

  it("loads with node and edge counts equal to the meta and the arrays", function()
    local ref = fx.read_v8(plain)
    local snap = assert(heap.load(plain))
    assert.are.equal(ref.snapshot.node_count, snap.nodeCount)
    assert.are.equal(ref.snapshot.edge_count, snap.edgeCount)
    assert.are.equal(#ref.nodes, snap.nodeCount)
    assert.are.equal(ref.edge_total, snap.edgeCount)
    snap:close()
  end)

  it("counts objects and shallow sizes per class as a straight reading of the JSON does", function()
    local ref = fx.read_v8(plain)
    local want = {}
    for _, n in ipairs(ref.nodes) do
      if n.self > 0 then
        local c = fx.class_name(n)
        want[c] = want[c] or { count = 0, shallow = 0 }
        want[c].count = want[c].count + 1
        want[c].shallow = want[c].shallow + n.self
      end
    end
    local snap = assert(heap.load(plain, { raw = true })) -- raw: V8's own sizes and names
    local got = by_name(snap:summary { top = 0 })
    local nwant = 0
    for c, w in pairs(want) do
      nwant = nwant + 1
      assert.is_table(got[c], "missing class " .. c)
      assert.are.same({ c, w.count, w.shallow }, { c, got[c].count, got[c].shallowSize })
    end
    local ngot = 0
    for _ in pairs(got) do ngot = ngot + 1 end
    assert.are.equal(nwant, ngot)
    assert.is_true(nwant > 50)
    snap:close()
  end)

  it("computes the same retained size for every node as DevTools' algorithm", function()
    local ref = fx.devtools_retained(fx.read_v8(plain))
    local snap = assert(heap.load(plain, { raw = true })) -- the reference does not move self sizes
    local checked = 0
    for id, size in pairs(ref) do
      local n = snap:node(id)
      if n.retainedSize ~= size then
        error(string.format("node @%d (%s): retained %d, DevTools' algorithm %d", id, n.className, n.retainedSize,
          size))
      end
      checked = checked + 1
    end
    assert.are.equal(snap.nodeCount, checked)
    snap:close()
  end)

  it("hangs WeakMap values from their keys, not the table (V8's '<n> / part of key' edges)", function()
    local ref = fx.read_v8(plain)
    local snap = assert(heap.load(plain))
    local checked = 0
    for _, n in ipairs(ref.nodes) do
      for _, e in ipairs(n.edges) do
        local key, value
        if type(e.name) == "string" then
          key, value = e.name:match("^%d+ / part of key %(WMKey @(%d+)%) %-> value %(WMValue @(%d+)%)")
        end
        if key and n.name == "WMKey" then
          assert.are.equal(tonumber(key), snap:node(tonumber(value)).dominatorId)
          checked = checked + 1
        end
      end
    end
    assert.are.equal(50, checked)
    snap:close()
  end)

  it("decodes the non-ASCII strings Node escapes", function()
    local text = fx.read(plain)
    -- V8 writes non-ASCII as \uXXXX (upper-case hex; astral characters lose their high bits)
    assert.truthy(text:lower():find("caf\\u00e9 ", 1, true))
    local snap = assert(heap.load(plain))
    local found = false
    for _, r in ipairs(snap:top { n = snap.nodeCount }) do
      if r.name:sub(1, 6) == "caf\195\169 " then found = true end
    end
    assert.is_true(found, "the string 'café ...' was not found decoded")
    snap:close()
  end)

  it("finds in the diff the objects the app added between two snapshots", function()
    local a, b = assert(heap.load(before)), assert(heap.load(after))
    local d = by_name(b:diff(a))
    assert.is_table(d.LeakyThing)
    assert.are.equal(1000, d.LeakyThing.new)
    assert.are.equal(0, d.LeakyThing.deleted)
    -- the alloc size is the self sizes of the new LeakyThing nodes as the JSON gives them
    local ids = {}
    for _, n in ipairs(fx.read_v8(before).nodes) do ids[n.id] = true end
    local sum = 0
    for _, n in ipairs(fx.read_v8(after).nodes) do
      if n.type == "object" and n.name == "LeakyThing" and not ids[n.id] then sum = sum + n.self end
    end
    assert.are.equal(sum, d.LeakyThing.allocSize)
    assert.are.equal(sum, d.LeakyThing.sizeDelta)
    -- and the path to one of them goes through the global `things` array
    local thing
    for _, r in ipairs(b:top { n = b.nodeCount }) do
      if r.className == "LeakyThing" then thing = r break end
    end
    local path = assert(b:retainerPath(thing.id))
    local texts = {}
    for i, s in ipairs(path) do texts[i] = s.text end
    local line = table.concat(texts, " → ")
    assert.matches("things %(property%)", line)
    assert.matches("LeakyThing @" .. thing.id .. "$", line)
    a:close()
    b:close()
  end)
end)

describe_node("allocation sites from a Node.js snapshot taken with --track-heap-objects", function()
  teardown(fx.cleanup)

  it("attributes live objects to the function and line that allocated them", function()
    local dir = fx.tmpdir()
    fx.write(dir .. "/app.js", [==[
      class Foo { constructor(i) { this.i = i; } }
      function makeFoos() { const a = []; for (let i = 0; i < 500; i++) a.push(new Foo(i)); return a; }
      globalThis.keep = makeFoos();
      require('v8').writeHeapSnapshot('tracked.heapsnapshot');
    ]==])
    local p = io.popen("cd '" .. dir .. "' && env -u LD_PRELOAD node --track-heap-objects app.js 2>&1")
    local out = p:read("a")
    p:close()
    local snap = assert(heap.load(dir .. "/tracked.heapsnapshot"), out)
    assert.is_true(snap.hasAllocationTraces)
    local site
    for _, s in ipairs(snap:allocationSites()) do
      if s.functionName == "makeFoos" then site = s end
    end
    assert.is_table(site, "no makeFoos allocation site")
    assert.matches("app%.js$", site.scriptName)
    assert.are.equal(2, site.line) -- function makeFoos is on line 2
    assert.is_true(site.liveCount >= 500)
    local fn
    for _, f in ipairs(snap:allocationFunctions()) do
      if f.functionName == "makeFoos" then fn = f end
    end
    assert.is_table(fn, "no makeFoos function")
    assert.are.equal(2, fn.line)
    -- (a live object can be bigger than when it was allocated: the array grew)
    assert.is_true(fn.liveCount >= 500 and fn.count >= fn.liveCount and fn.totalSize >= fn.size)
    local sites = snap:allocationSites { top = 3 }
    assert.are.equal(3, #sites)
    assert.is_true(sites[1].liveSize >= sites[2].liveSize and sites[2].liveSize >= sites[3].liveSize)
    snap:close()
  end)
end)

describe_node("heap.findLeaks on three snapshots of a Node.js app", function()
  teardown(fx.cleanup)

  -- The app writes its own snapshots around an action: baseline, after the
  -- action, after the action again. `cleanup` decides whether it leaks.
  local function run_app(leaks)
    local dir = fx.tmpdir()
    local ok, out = fx.node(dir, [[
      const v8 = require('v8');
      class LeakyThing { constructor(i) { this.i = i; this.buf = new Array(20).fill(i); } }
      const listeners = [];
      const things = [];
      function action() {
        for (let i = 0; i < 100; i++) {
          const payload = new LeakyThing(i);
          listeners.push(function onEvent() { return payload.i; });
          things.push(new LeakyThing(-i));
        }
      }
      function cleanup() { ]] .. (leaks and "" or "listeners.length = 0; things.length = 0;") .. [[ }
      globalThis.app = { listeners, things };
      v8.writeHeapSnapshot('a.heapsnapshot');
      action();
      v8.writeHeapSnapshot('b.heapsnapshot');
      cleanup();
      action();
      cleanup();
      v8.writeHeapSnapshot('c.heapsnapshot');
    ]])
    assert(ok, out)
    return dir
  end

  local function group_ending(groups, pattern)
    for _, g in ipairs(groups) do
      local last = g.retainerPath[#g.retainerPath] or ""
      if last:match(pattern) then return g end
    end
  end

  it("reports the leaked closures and objects, grouped, largest first", function()
    local dir = run_app(true)
    local groups = assert(heap.findLeaks { baseline = dir .. "/a.heapsnapshot", target = dir .. "/b.heapsnapshot",
      final = dir .. "/c.heapsnapshot" })
    local closures = group_ending(groups, "Function onEvent @%d+$")
    assert.is_table(closures, "no group of onEvent closures")
    assert.are.equal("Function onEvent", closures.class) -- closures group by function
    assert.are.equal(100, closures.count)
    -- each closure holds its LeakyThing payload, so the group retains more than the closures themselves
    assert.is_true(closures.retainedSize > 100 * 32)
    -- LeakyThing leaks twice: in app.things, and as payloads inside the closures (a nested group)
    local things
    for _, g in ipairs(groups) do
      if g.class == "LeakyThing" and not g.nested then things = g end
    end
    assert.is_table(things, "no group of LeakyThing objects")
    assert.are.equal("LeakyThing", things.class)
    assert.are.equal(100, things.count)
    assert.matches("things %(property%)", table.concat(things.retainerPath, " "))
    -- the program's own classes (LeakyThing, defined in the script) come before the rest
    assert.are.equal("LeakyThing", groups[1].class)
    -- a path starts at a root's child and every later step reads "edge (type) → node"
    for _, step in ipairs({ (table.unpack or _G.unpack)(closures.retainerPath, 2) }) do
      assert.matches("^.+ %(%a+%) → .+ @%d+$", step)
    end
  end)

  it("marks the payloads held inside the leaked closures as nested, and counts both rounds", function()
    local dir = run_app(true)
    local groups = assert(heap.findLeaks { baseline = dir .. "/a.heapsnapshot", target = dir .. "/b.heapsnapshot",
      final = dir .. "/c.heapsnapshot" })
    local held, free
    for _, g in ipairs(groups) do
      if g.class == "LeakyThing" then
        local path = table.concat(g.retainerPath, " ")
        if path:match("onEvent") then held = g elseif path:match("things %(property%)") then free = g end
      end
    end
    assert.is_table(held, "no group for the LeakyThing payloads held by the closures")
    assert.is_table(free, "no group for the LeakyThing objects in app.things")
    assert.is_true(held.nested)
    assert.is_false(free.nested)
    assert.are.equal(100, held.count)
    assert.are.equal(100, held.grown) -- the second action leaked as many again
    assert.are.equal(100, free.grown)
  end)

  it("leaves out what only the first action allocated: a cache built once is not a leak", function()
    local dir = fx.tmpdir()
    local ok, out = fx.node(dir, [[
      const v8 = require('v8');
      class OneTimeCache { constructor() { this.table = new Array(50).fill(1); } }
      class LeakyThing { constructor(i) { this.i = i; } }
      const app = { cache: null, things: [] };
      globalThis.app = app;
      function action() {
        if (!app.cache) app.cache = new OneTimeCache();
        for (let i = 0; i < 30; i++) app.things.push(new LeakyThing(i));
      }
      v8.writeHeapSnapshot('a.heapsnapshot');
      action();
      v8.writeHeapSnapshot('b.heapsnapshot');
      action();
      v8.writeHeapSnapshot('c.heapsnapshot');
    ]])
    assert(ok, out)
    local groups = assert(heap.findLeaks { baseline = dir .. "/a.heapsnapshot", target = dir .. "/b.heapsnapshot",
      final = dir .. "/c.heapsnapshot" })
    local classes = {}
    for _, g in ipairs(groups) do classes[g.class] = g end
    assert.is_table(classes.LeakyThing, "the leak itself must stay")
    assert.are.equal(30, classes.LeakyThing.count)
    assert.are.equal(30, classes.LeakyThing.grown)
    assert.is_nil(classes.OneTimeCache)
  end)

  it("reports no group for them when the app cleans up", function()
    local dir = run_app(false)
    local groups = assert(heap.findLeaks { baseline = dir .. "/a.heapsnapshot", target = dir .. "/b.heapsnapshot",
      final = dir .. "/c.heapsnapshot" })
    assert.is_nil(group_ending(groups, "onEvent @%d+$"))
    assert.is_nil(group_ending(groups, "LeakyThing @%d+$"))
    for _, g in ipairs(groups) do assert.are_not.equal("LeakyThing", g.class) end
  end)

  it("returns nil, message, code for a missing or malformed file", function()
    local dir = fx.tmpdir()
    local bad = fx.write(dir .. "/bad.json", '{"snapshot":')
    local g, err, code = heap.findLeaks { baseline = dir .. "/none", target = bad, final = bad }
    assert.is_nil(g)
    assert.are.equal("ENOENT", code)
    assert.matches("none", err)
    g, err, code = heap.findLeaks { baseline = bad, target = bad, final = bad }
    assert.is_nil(g)
    assert.are.equal("ETRUNCATED", code)
    assert.matches("byte 12", err)
  end)
end)
