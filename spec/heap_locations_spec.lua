-- Source locations: snap:location(id) and snap:node(id).location, from a real
-- Node.js snapshot (whose locations name scripts by id only: the URL comes
-- from the graph) and from hand-made files in both of V8's layouts.
local heap = require "memdbg.analysis.heap"
local fx = require "support.heapfixture"

local have_node = fx.have_node()
local describe_node = have_node and describe or pending

describe_node("source locations on a Node.js snapshot", function()
  local dir, file

  setup(function()
    dir = fx.tmpdir()
    -- line 2: the class (its constructor's "(" at column 28); line 4: the function ("(" at 19)
    local ok, out = fx.node(dir, table.concat({
      "const v8 = require('v8');",
      "class Located { constructor(i) { this.i = i; } }",
      "globalThis.kept = [];",
      "function makeThing(i) { return { i }; }",
      "for (let i = 0; i < 10; i++) globalThis.kept.push(new Located(i));",
      "globalThis.maker = makeThing;",
      "v8.writeHeapSnapshot('loc.heapsnapshot');",
    }, "\n"))
    assert(ok, out)
    file = dir .. "/loc.heapsnapshot"
  end)

  teardown(fx.cleanup)

  local function find(snap, pred)
    for _, n in ipairs(snap:top { n = snap.nodeCount }) do
      if pred(n) then return n end
    end
  end

  it("gives an object its constructor's script, line and column (1-based)", function()
    local snap = assert(heap.load(file))
    local obj = assert(find(snap, function(n) return n.type == "object" and n.name == "Located" end))
    local loc = snap:location(obj.id)
    assert.is_table(loc)
    assert.are.equal(dir .. "/app.js", loc.url)
    assert.are.equal(2, loc.line)
    assert.are.equal(28, loc.column) -- V8 places a function at its parameter list
    assert.is_number(loc.scriptId)
    assert.are.same(loc, snap:node(obj.id).location)
    snap:close()
  end)

  it("gives a function where it is defined", function()
    local snap = assert(heap.load(file))
    local fn = assert(find(snap, function(n) return n.type == "closure" and n.name == "makeThing" end))
    local loc = assert(snap:location(fn.id))
    assert.are.same({ dir .. "/app.js", 4, 19 }, { loc.url, loc.line, loc.column })
    snap:close()
  end)

  it("has nothing for a string, and an error for an id not in the snapshot", function()
    local snap = assert(heap.load(file))
    local str = assert(find(snap, function(n) return n.type == "string" end))
    assert.is_nil(snap:location(str.id))
    assert.is_nil(snap:node(str.id).location)
    local v, err, code = snap:location(4294967295)
    assert.is_nil(v)
    assert.are.equal("ERANGE", code)
    assert.matches("no node with id", err)
    snap:close()
  end)
end)

describe("source locations in hand-made snapshots", function()
  teardown(fx.cleanup)

  -- root -> closure F -shared-> SFI -<script edge>-> Script -name-> "file:///x.js"; root -> object O
  local function graph(script_edge, script_name)
    return fx.v8 {
      nodes = { { "synthetic", "", 1, 0 }, { "closure", "F", 3, 32 }, { "code", "system / SharedFunctionInfo", 5, 40 },
        { "code", script_name, 7, 60 }, { "string", "file:///x.js", 9, 24 }, { "object", "F", 11, 16 },
        { "object", "G", 13, 16 } },
      edges = { { 1, 2, "property", "f" }, { 1, 6, "property", "o" }, { 1, 7, "property", "g" },
        { 2, 3, "internal", "shared" }, { 3, 4, "internal", script_edge }, { 4, 5, "internal", "name" } },
    }
  end

  it("reads V8 11's layout: the URL through the closure's shared info", function()
    local t = graph("script_or_debug_info", "file:///x.js")
    t.snapshot.meta.location_fields = { "object_index", "script_id", "line", "column" }
    local nf = #t.snapshot.meta.node_fields
    -- in the file's order, not the nodes': F's object at 10:4, the closure at 9:3, G in script 8 (no closure)
    t.locations = { 5 * nf, 7, 9, 3, 1 * nf, 7, 9, 3, 6 * nf, 8, 0, 0 }
    local snap = assert(heap.load(fx.file(fx.v8_text(t))))
    assert.are.same({ url = "file:///x.js", line = 10, column = 4, scriptId = 7 }, snap:location(11))
    assert.are.same({ url = "file:///x.js", line = 10, column = 4, scriptId = 7 }, snap:location(3))
    assert.are.same({ line = 1, column = 1, scriptId = 8 }, snap:location(13)) -- no script node: no URL
    assert.is_nil(snap:location(1))
    snap:close()
  end)

  it("reads newer V8's layout: the Script node's index in each entry", function()
    local t = graph("script", "system / Script / file:///x.js")
    t.snapshot.meta.location_fields = { "object_index", "script_id", "script_object_index", "line", "column" }
    local nf = #t.snapshot.meta.node_fields
    t.locations = { 5 * nf, 3, 3 * nf, 0, 12 }
    local snap = assert(heap.load(fx.file(fx.v8_text(t))))
    assert.are.same({ url = "file:///x.js", line = 1, column = 13, scriptId = 3 }, snap:location(11))
    assert.is_nil(snap:location(3))
    snap:close()
  end)

  it("skips entries that name no node", function()
    local t = graph("script", "system / Script / file:///x.js")
    local nf = #t.snapshot.meta.node_fields
    t.locations = { 99 * nf, 1, 0, 0, 5 * nf + 1, 1, 0, 0, 1 * nf, 1, 4, 5 }
    local snap = assert(heap.load(fx.file(fx.v8_text(t))))
    assert.are.same({ url = "file:///x.js", line = 5, column = 6, scriptId = 1 }, snap:location(3))
    assert.is_nil(snap:location(11))
    snap:close()
  end)
end)
