-- JSC (Bun, Safari) snapshots load into the same model: a hand-written one
-- with answers worked out by hand, and a real one from Bun when available.
local heap = require "memdbg.analysis.heap"
local fx = require "support.heapfixture"
local cjson = require "cjson"

local function by_name(rows)
  local t = {}
  for _, r in ipairs(rows) do t[r.name] = r end
  return t
end

-- <root>(0) -Internal-> GlobalObject(10):100 -Property "cache"-> Map(20):40 -Index 0-> Thing(30):8
--   Map -Index 1-> Thing(40):8;  Thing(30) -Variable "v"-> string(50):6 (flags 0)
--   GlobalObject -Internal-> Structure(60, internal flag):16;  Thing(40) -Property "self"-> Thing(40)
-- Edges are listed out of source order on purpose.
-- Dominators: GlobalObject <- root, Map <- GlobalObject, Things <- Map, string <- Thing(30).
-- Retained: string 6, Thing(30) 14, Thing(40) 8, Map 62, Structure 16, GlobalObject 178.
local JSC = {
  version = 3,
  type = "Inspector",
  nodes = { 0, 0, 0, 0, 10, 100, 1, 0, 20, 40, 2, 0, 30, 8, 3, 2, 40, 8, 3, 2, 50, 6, 4, 0, 60, 16, 5, 1 },
  nodeClassNames = { "<root>", "GlobalObject", "Map", "Thing", "string", "Structure" },
  edges = { 20, 30, 2, 0, 0, 10, 0, 0, 10, 20, 1, 0, 20, 40, 2, 1, 30, 50, 3, 1, 10, 60, 0, 0, 40, 40, 1, 2 },
  edgeTypes = { "Internal", "Property", "Index", "Variable" },
  edgeNames = { "cache", "v", "self" },
}

describe("JSC heap snapshots", function()
  after_each(fx.cleanup)

  it("load into the same model, rooted at the node with id 0", function()
    local snap = assert(heap.load(fx.file(JSC)))
    assert.are.equal("jsc", snap.format)
    assert.are.equal(7, snap.nodeCount)
    assert.are.equal(7, snap.edgeCount)
    local want = { [10] = { 178, 0, 1 }, [20] = { 62, 10, 2 }, [30] = { 14, 20, 3 }, [40] = { 8, 20, 3 },
      [50] = { 6, 30, 4 }, [60] = { 16, 10, 2 } }
    for id, w in pairs(want) do
      local n = snap:node(id)
      assert.are.same({ id, w[1], w[2], w[3] }, { id, n.retainedSize, n.dominatorId, n.distance })
    end
    assert.are.equal(178, snap.totalSize)
    assert.are.equal("hidden", snap:node(60).type)
    assert.are.equal("string", snap:node(50).type)
    local s = by_name(snap:summary())
    assert.are.same({ 2, 16, 22 }, { s.Thing.count, s.Thing.shallowSize, s.Thing.retainedSize })
    local p = snap:retainerPath(50)
    local texts = {}
    for i, st in ipairs(p) do texts[i] = st.text end
    assert.are.equal("GlobalObject @10 → cache (property) → Map @20 → [0] (element) → Thing @30"
      .. " → v (context) → string @50", table.concat(texts, " → "))
    snap:close()
  end)

  it("gives findLeaks an error, not a crash, for an empty JSC nodes array", function()
    local t = cjson.decode(cjson.encode(JSC))
    t.nodes = "EMPTY" -- cjson would write [] as {}
    local path = fx.file((cjson.encode(t):gsub('"EMPTY"', "[]")))
    local g, err, code = heap.findLeaks { baseline = path, target = path, final = path }
    assert.is_nil(g)
    assert.are.equal("EFORMAT", code)
    assert.matches("quadruples", err)
  end)

  it("rejects edges to unknown node ids and bad name indexes", function()
    local t = cjson.decode(cjson.encode(JSC))
    t.edges[2] = 999
    local snap, err, code = heap.load(fx.file(t))
    assert.is_nil(snap)
    assert.are.equal("EFORMAT", code)
    assert.matches("node id 999", err)
    assert.matches("byte %d+", err)
    t = cjson.decode(cjson.encode(JSC))
    t.edges[12] = 7 -- a Property edge naming edgeNames[7]
    snap, err, code = heap.load(fx.file(t))
    assert.is_nil(snap)
    assert.are.equal("EFORMAT", code)
    assert.matches("edge name 7", err)
    t = cjson.decode(cjson.encode(JSC))
    t.nodes[#t.nodes + 1] = 1
    snap, err, code = heap.load(fx.file(t))
    assert.matches("quadruples", err)
    assert.is_nil(snap)
    assert.are.equal("EFORMAT", code)
  end)

  local ok_rt, runtimes = pcall(require, "support.runtimes")
  local bun = ok_rt and runtimes.binary("bun")
  local describe_bun = bun and describe or pending

  describe_bun("from Bun.generateHeapSnapshot()", function()
    it("summarises a real Bun heap", function()
      local dir = fx.tmpdir()
      fx.write(dir .. "/app.js", [==[
        class LeakyThing { constructor(i) { this.i = i; } }
        globalThis.things = [];
        for (let i = 0; i < 1000; i++) globalThis.things.push(new LeakyThing(i));
        require('fs').writeFileSync(process.argv[2], JSON.stringify(Bun.generateHeapSnapshot()));
      ]==])
      local path = dir .. "/bun.json"
      assert(os.execute("env -u LD_PRELOAD '" .. bun .. "' '" .. dir .. "/app.js' '" .. path .. "'"))
      local raw = cjson.decode(fx.read(path))
      local snap = assert(heap.load(path))
      -- cells no recorded edge reaches (a Map's entries: JSC records no edge out
      -- of its storage) hang from one synthetic node under the root (jsc.c)
      local reached, orphans = {}, 0
      for i = 2, #raw.edges, 4 do reached[raw.edges[i]] = true end
      for i = 1, #raw.nodes, 4 do
        if raw.nodes[i] ~= 0 and not reached[raw.nodes[i]] then orphans = orphans + 1 end
      end
      local extra = orphans > 0 and 1 or 0
      assert.are.equal(#raw.nodes / 4 + extra, snap.nodeCount)
      assert.are.equal(#raw.edges / 4 + orphans + extra, snap.edgeCount)
      local s = by_name(snap:summary { top = 0 })
      assert.are.equal(1000, s.LeakyThing.count)
      local thing
      for _, r in ipairs(snap:top { n = snap.nodeCount }) do
        if r.className == "LeakyThing" then thing = r break end
      end
      local texts = {}
      for i, st in ipairs(assert(snap:retainerPath(thing.id))) do texts[i] = st.text end
      assert.matches("things %(property%) → Array @%d+ → %[%d+%] %(element%) → LeakyThing", table.concat(texts, " → "))
      snap:close()
    end)

    it("refuses findLeaks on Bun.generateHeapSnapshot() files: JSC renumbers objects each time", function()
      local dir = fx.tmpdir()
      fx.write(dir .. "/app.js", [==[
        const fs = require('fs');
        class LeakyThing { constructor(i) { this.i = i; } }
        const things = [];
        globalThis.app = { things };
        const snap = (p) => fs.writeFileSync(p, JSON.stringify(Bun.generateHeapSnapshot()));
        const action = () => { for (let i = 0; i < 100; i++) things.push(new LeakyThing(i)); };
        snap(process.argv[2] + '/a.json'); action(); snap(process.argv[2] + '/b.json');
        action(); snap(process.argv[2] + '/c.json');
      ]==])
      assert(os.execute("env -u LD_PRELOAD '" .. bun .. "' '" .. dir .. "/app.js' '" .. dir .. "'"))
      local g, err, code = heap.findLeaks { baseline = dir .. "/a.json", target = dir .. "/b.json",
        final = dir .. "/c.json" }
      assert.is_nil(g)
      assert.are.equal("EIDS", code)
      assert.matches("node ids", err)
    end)
  end)
end)
