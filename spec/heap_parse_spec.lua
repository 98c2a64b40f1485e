-- The heap snapshot parser on small hand-written snapshots: layouts laid
-- out by snapshot.meta, strings and escapes, extra keys, and bad input.
local heap = require "memdbg.analysis.heap"
local fx = require "support.heapfixture"
local cjson = require "cjson"

-- root -> A -> B, A -> "café" string; small enough to cut at every offset
local function small(fields)
  return fx.v8 {
    fields = fields,
    nodes = {
      { "synthetic", "", 1, 0 },
      { "object", "A", 3, 16 },
      { "object", "B", 5, 24 },
      { "string", "hello", 7, 32 },
    },
    edges = {
      { 1, 2, "property", "a" },
      { 2, 3, "property", "b" },
      { 2, 4, "property", "s" },
    },
  }
end

local function by_name(rows)
  local t = {}
  for _, r in ipairs(rows) do t[r.name] = r end
  return t
end

describe("heap parser", function()
  after_each(fx.cleanup)

  it("loads a snapshot file and reports node and edge counts", function()
    local snap = assert(heap.load(fx.file(small())))
    assert.are.equal(4, snap.nodeCount)
    assert.are.equal(3, snap.edgeCount)
    assert.are.equal("v8", snap.format)
    assert.are.equal(16 + 24 + 32, snap.totalSize)
    snap:close()
  end)

  it("reads 6-field (Chromium) and 7-field (Node) layouts, in any field order", function()
    local layouts = {
      { "type", "name", "id", "self_size", "edge_count", "trace_node_id" },
      { "type", "name", "id", "self_size", "edge_count", "trace_node_id", "detachedness" },
      { "id", "edge_count", "self_size", "name", "type" },
      { "type", "name", "id", "self_size", "edge_count", "some_future_field", "detachedness", "another" },
    }
    for _, fields in ipairs(layouts) do
      local snap = assert(heap.parse(cjson.encode(small(fields))))
      local b = snap:node(5)
      assert.are.same({ "B", "object", 24, 24, 2 }, { b.name, b.type, b.selfSize, b.retainedSize, b.distance })
      local a = snap:node(3)
      assert.are.equal(16 + 24 + 32, a.retainedSize)
      assert.are.equal(2, a.edgeCount)
      local s = by_name(snap:summary())
      assert.are.equal(1, s["(string)"].count)
      assert.are.equal(32, s["(string)"].shallowSize)
    end
  end)

  it("keeps new node types and skips unknown top-level keys", function()
    local t = small()
    t.snapshot.meta.node_types[1] = { "hidden", "array", "string", "object", "code", "closure", "regexp", "number",
      "native", "synthetic", "concatenated string", "sliced string", "symbol", "bigint", "object shape",
      "wasm object", "brand new type" }
    t.nodes[2 * 7 + 1] = 16 -- B becomes a "brand new type"
    t.scopes = { { a = { 1, 2, { "x" } } } }
    t.scope_context_vars = {}
    t.locations = { 1, 2, 3, 4 }
    t.samples = { 1, 2 }
    t.extra_native_bytes = 12345
    local snap = assert(heap.parse(cjson.encode(t)))
    assert.are.equal("brand new type", snap:node(5).type)
    assert.truthy(by_name(snap:summary())["(brand new type)"])
  end)

  it("decodes \\uXXXX escapes and surrogate pairs to UTF-8", function()
    local t = small()
    local text = cjson.encode(t)
    -- replace the name "A" (a whole JSON string) with escaped text
    text = text:gsub('"A"', '"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/ \\n\\t \\u4e2d"', 1)
    text = text:gsub('"hello"', '"lone \\udc00 high \\ud800x"', 1)
    local snap = assert(heap.parse(text))
    assert.are.equal("café 😀 \"q\" \\ / \n\t 中", snap:node(3).name)
    assert.are.equal("lone \239\191\189 high \239\191\189x", snap:node(7).name)
  end)

  it("accepts the top-level keys in any order", function()
    local t = small()
    local ordered = assert(heap.parse(fx.v8_text(t)))
    local orders = { { "strings", "edges", "nodes", "snapshot" }, { "edges", "snapshot", "strings", "nodes" } }
    for _, order in ipairs(orders) do
      local parts = {}
      for _, k in ipairs(order) do parts[#parts + 1] = cjson.encode(k) .. ":" .. cjson.encode(t[k]) end
      local snap = assert(heap.parse("{" .. table.concat(parts, ",") .. "}"))
      assert.are.same(ordered:summary(), snap:summary())
      assert.are.same(ordered:node(3), snap:node(3))
    end
  end)

  it("accepts whitespace and newlines anywhere between tokens", function()
    local text = cjson.encode(small()):gsub(",", " ,\n "):gsub("%[", "[ \r\n"):gsub(":", " : ")
    local snap = assert(heap.parse(text))
    assert.are.equal(4, snap.nodeCount)
  end)

  it("keeps allocation traces (trace_function_infos, trace_tree)", function()
    local t = small()
    t.snapshot.trace_function_count = 2
    t.snapshot.meta.trace_function_info_fields = { "function_id", "name", "script_name", "script_id", "line",
      "column" }
    t.snapshot.meta.trace_node_fields = { "id", "function_info_index", "count", "size", "children" }
    table.insert(t.strings, "makeThing")
    table.insert(t.strings, "app.js")
    local name, script = #t.strings - 2, #t.strings - 1
    t.trace_function_infos = { 1, 0, 0, 0, 0, 0, 2, name, script, 7, 41, 3 }
    t.trace_tree = "TRACE_TREE" -- cjson would encode the empty child lists as {}
    t.nodes[1 * 7 + 6] = 2 -- A allocated at trace node 2
    t.nodes[2 * 7 + 6] = 2 -- B too
    local text = fx.v8_text(t):gsub('"TRACE_TREE"', "[1,0,1,8,[2,1,2,40,[],3,1,1,16,[]]]")
    local snap = assert(heap.parse(text))
    local sites = snap:allocationSites()
    assert.are.equal(1, #sites)
    -- V8 writes trace lines and columns 1-based already
    assert.are.same({ 2, 2, 40, "makeThing", "app.js", 41, 3 }, { sites[1].traceNodeId, sites[1].liveCount,
      sites[1].liveSize, sites[1].functionName, sites[1].scriptName, sites[1].line, sites[1].column })
    assert.are.equal(2, snap:node(3).traceNodeId)
    -- per function: makeThing allocated 3 objects (56 bytes) at trace nodes 2 and 3, A and B live;
    -- the root frame has makeThing's bytes in its total
    local fns = snap:allocationFunctions()
    assert.are.equal(2, #fns)
    assert.are.same({ functionName = "makeThing", url = "app.js", line = 41, column = 3, count = 3, size = 56,
      totalSize = 56, liveCount = 2, liveSize = 40 }, fns[1])
    assert.are.same({ 1, 8, 64, 0, 0 }, { fns[2].count, fns[2].size, fns[2].totalSize, fns[2].liveCount,
      fns[2].liveSize })
    assert.is_nil(fns[2].line) -- 0 in the file: unknown, not 1
  end)

  it("reports detached DOM nodes from the detachedness field", function()
    local t = fx.v8 {
      nodes = {
        { "synthetic", "", 1, 0 },
        { "native", "HTMLDivElement", 2, 100, 2 },
        { "native", "HTMLDivElement", 4, 100, 1 },
        { "native", "HTMLSpanElement", 6, 50, 2 },
      },
      edges = { { 1, 2, "element", 1 }, { 1, 3, "element", 2 }, { 2, 4, "element", 1 } },
    }
    -- DevTools names detached nodes "Detached <name>"; raw keeps the name
    local snap = assert(heap.parse(cjson.encode(t)))
    local d = by_name(snap:detached())
    assert.are.equal(1, d["Detached HTMLDivElement"].count)
    assert.are.equal(150, d["Detached HTMLDivElement"].retainedSize)
    assert.are.equal(1, d["Detached HTMLSpanElement"].count)
    assert.is_true(snap:node(2).detached)
    assert.is_false(snap:node(4).detached)
    local raw = by_name(assert(heap.parse(cjson.encode(t), { raw = true })):detached())
    assert.are.same({ 1, 150 }, { raw.HTMLDivElement.count, raw.HTMLDivElement.retainedSize })
  end)

  it("keeps sizes past 16 bits and 4 GiB, and element indexes past 2^29, whole", function()
    -- self sizes are stored in 16 bits, retained sizes in 32, the rare larger one aside;
    -- edge names in the bits a shared type+name word leaves (29 here), the larger ones aside
    local t = fx.v8 {
      nodes = {
        { "synthetic", "", 1, 0 },
        { "object", "A", 3, 5000000000 },
        { "array", "", 5, 4294967295 },
        { "object", "B", 7, 70000 },
        { "object", "C", 9, 65535 },
        { "object", "D", 11, 1 },
        { "object", "D", 13, 1 },
        { "object", "E", 15, 1 },
        { "object", "E", 17, 1 },
      },
      edges = {
        { 1, 2, "element", 1 }, { 1, 6, "element", 2 }, { 1, 7, "element", 3 },
        { 2, 3, "property", "arr" },
        { 3, 4, "element", 3000000000 }, { 3, 5, "element", 536870910 },
        { 6, 8, "property", "x" }, { 7, 9, "property", "x" },
      },
    }
    for _, raw in ipairs { false, true } do
      local snap = assert(heap.parse(cjson.encode(t), { raw = raw }))
      local a, arr = snap:node(3), snap:node(5)
      if raw then
        assert.are.same({ 5000000000, 4294967295, 4295102830 }, { a.selfSize, arr.selfSize, arr.retainedSize })
      else -- DevTools moves the array's size into its one owner
        assert.are.same({ 9294967295, 0, 135535 }, { a.selfSize, arr.selfSize, arr.retainedSize })
      end
      assert.are.same({ 70000, 65535 }, { snap:node(7).selfSize, snap:node(9).retainedSize })
      assert.are.equal(9295102830, a.retainedSize)
      assert.are.equal(9295102834, snap.totalSize)
      assert.are.same({ { name = 3000000000, type = "element", to = 7 }, { name = 536870910, type = "element", to = 9 } },
        snap:edges(5))
      assert.are.same({ { name = "x", type = "property", to = 15 } }, snap:edges(11))
      assert.are.same({ { name = "x", type = "property", to = 17 } }, snap:edges(13))
      local row = by_name(snap:summary()).A
      assert.are.same({ raw and 5000000000 or 9294967295, 9295102830 }, { row.shallowSize, row.retainedSize })
    end
  end)

  describe("bad input", function()
    local function fails(text, codes, pattern)
      local snap, err, code = heap.parse(text)
      assert.is_nil(snap)
      assert.is_string(err)
      assert.is_truthy(codes[code], "unexpected code " .. tostring(code) .. ": " .. tostring(err))
      local off = tonumber(err:match("byte (%d+)"))
      assert.is_number(off, "no byte offset in: " .. err)
      assert.is_true(off <= #text, err)
      if pattern then assert.matches(pattern, err) end
      return err, code, off
    end

    it("names the byte offset for a file truncated at any point", function()
      local text = fx.v8_text(small())
      local nodes_at = text:find('"nodes"', 1, true)
      for cut = 0, #text - 1 do
        local err, code, off = fails(text:sub(1, cut), { ETRUNCATED = true, EFORMAT = true })
        -- inside the number arrays and the strings a cut is always a truncation at the end,
        -- even one that leaves a number short (12 read as 1 fails a check: still ETRUNCATED)
        if cut > nodes_at + 9 then
          assert.are.equal("ETRUNCATED", code, err)
          assert.are.equal(cut, off, err)
        end
      end
    end)

    it("rejects a 0-byte input and a missing file", function()
      local _, err, code = heap.load(fx.file(""))
      assert.are.equal("ETRUNCATED", code)
      assert.matches("byte 0", err)
      local snap, err2, code2 = heap.load("/nonexistent/dir/x.heapsnapshot")
      assert.is_nil(snap)
      assert.are.equal("ENOENT", code2)
      assert.matches("x.heapsnapshot", err2)
    end)

    it("rejects other JSON and non-JSON", function()
      fails("[1,2,3]", { EFORMAT = true }, "expected '{'")
      fails('{"foo": 1}', { EFORMAT = true }, "not a V8 heap snapshot")
      fails("{}", { EFORMAT = true })
      fails("\0\1\2garbage", { EFORMAT = true })
      fails('{"nodes":[0,0,1,0,0]}', { EFORMAT = true }, "not a V8 heap snapshot")
      fails('{"trace_tree":[1]}', { EFORMAT = true }, "not a V8 heap snapshot") -- once a division by zero
      fails('{"trace_tree":[1,2,3,4,[5,6,7,8,[]]],"strings":[]}', { EFORMAT = true })
      fails(cjson.encode(small()) .. "xyz", { EFORMAT = true }, "trailing data")
    end)

    it("rejects an edge pointing past the nodes or between nodes", function()
      local t = small()
      t.edges[3] = 4 * 7 -- one past the last node
      fails(cjson.encode(t), { EFORMAT = true }, "past the nodes")
      t.edges[3] = 8
      fails(cjson.encode(t), { EFORMAT = true }, "not a multiple")
    end)

    it("rejects a meta that disagrees with the arrays", function()
      local t = small()
      t.snapshot.node_count = 5
      fails(cjson.encode(t), { EFORMAT = true }, "node_count")
      t = small()
      t.snapshot.edge_count = 2
      fails(cjson.encode(t), { EFORMAT = true }, "edge_count")
      t = small()
      t.nodes[#t.nodes + 1] = 3 -- half a node
      t.snapshot.node_count = nil
      fails(cjson.encode(t), { EFORMAT = true }, "inside a node")
      t = small()
      t.nodes[5] = 9 -- edge counts no longer add up to the edges array
      t.snapshot.edge_count = nil
      fails(cjson.encode(t), { EFORMAT = true }, "edges array")
      t = small()
      t.nodes[1] = 99 -- a node type outside meta.node_types
      fails(cjson.encode(t), { EFORMAT = true }, "node type 99")
      t = small()
      t.nodes[2] = 1000 -- a name past the strings
      fails(cjson.encode(t), { EFORMAT = true }, "string 1000")
      t = small()
      t.snapshot.meta.node_fields = { "type", "name", "self_size", "edge_count", "trace_node_id", "detachedness", "x" }
      fails(cjson.encode(t), { EFORMAT = true }, "lacks \"id\"")
    end)

    it("rejects numbers it cannot represent", function()
      local base = fx.v8_text(small())
      assert.matches('"nodes":%[9,1,1,', base)
      fails((base:gsub('"nodes":%[9,1,1,', '"nodes":[9,1,99999999999999999999999,', 1)), { ERANGE = true })
      fails((base:gsub('"nodes":%[9,1,1,', '"nodes":[9,1,4294967296,', 1)), { ERANGE = true }, "id")
      fails((base:gsub('"nodes":%[9,1,1,', '"nodes":[9,1,-1,', 1)), { EFORMAT = true })
      fails((base:gsub('"nodes":%[9,1,1,', '"nodes":[9,1,1.5,', 1)), { EFORMAT = true }, "fraction")
    end)

    it("survives random corruption without crashing", function()
      local text = cjson.encode(small())
      math.randomseed(7)
      for _ = 1, 300 do
        local pos = math.random(1, #text)
        local bad = text:sub(1, pos - 1) .. string.char(math.random(0, 255)) .. text:sub(pos + 1)
        local snap, err = heap.parse(bad)
        if snap then
          assert.is_number(snap.nodeCount)
          snap:summary()
          snap:close()
        else
          assert.is_string(err)
        end
      end
    end)
  end)

  describe("the snapshot object", function()
    it("has an idempotent close, __close and __tostring, and raises on misuse", function()
      local snap = assert(heap.parse(cjson.encode(small())))
      assert.matches("4 nodes", tostring(snap))
      snap:close()
      snap:close()
      assert.matches("closed", tostring(snap))
      assert.has_error(function() snap:summary() end)
      assert.has_error(function() heap.load(42) end)
      assert.has_error(function() heap.load("x", { onProgress = 1 }) end)
      local s2 = assert(heap.parse(cjson.encode(small())))
      assert.has_error(function() s2:node("abc") end)
      assert.has_error(function() s2:diff({}) end)
      assert.has_error(function() heap.findLeaks { baseline = "a" } end)
      local getmt = getmetatable(s2)
      assert.is_function(getmt.__close)
      assert.is_function(getmt.__gc)
      s2:close()
    end)

    it("calls onProgress with bytes done and the total", function()
      local path = fx.file(small())
      local calls, last = 0, nil
      local snap = assert(heap.load(path, { onProgress = function(done, total)
        calls = calls + 1
        assert.is_true(done <= total)
        last = { done, total }
      end }))
      local size = #fx.read(path)
      assert.is_true(calls >= 1)
      assert.are.same({ size, size }, last)
      snap:close()
    end)
  end)
end)

-- Big nodes/edges arrays are parsed in two halves at once (columns.c); the
-- specs force that path on small inputs and expect exactly the serial results.
describe("heap parser, split path", function()
  local core = require "memdbg._heap"
  local saved
  before_each(function() saved = core._tune(1) end)
  after_each(function()
    core._tune(saved)
    fx.cleanup()
  end)

  local function both(text)
    core._tune(1)
    local a = { heap.parse(text) }
    core._tune(2 ^ 40)
    local b = { heap.parse(text) }
    core._tune(1)
    return a, b
  end

  it("gives the serial results on a valid snapshot", function()
    local nodes, edges = { { "synthetic", "", 1, 0 } }, {}
    for i = 2, 3000 do
      nodes[i] = { i % 3 == 0 and "string" or "object", "N" .. (i % 17), i * 2, i % 50 }
      edges[#edges + 1] = { math.max(1, math.floor(i / 2)), i, "property", "p" .. (i % 5) }
      local back = math.max(1, i - 7)
      edges[#edges + 1] = i % 4 == 0 and { i, back, "weak", "w" } or { i, back, "element", i }
    end
    local text = fx.v8_text(fx.v8 { nodes = nodes, edges = edges })
    local a, b = both(text)
    assert.is_table(a[1], a[2])
    assert.are.same(b[1]:summary(), a[1]:summary())
    for _, id in ipairs { 4, 1000, 3001, 5998 } do assert.are.same(b[1]:node(id), a[1]:node(id)) end
  end)

  it("gives the same dominators with 3-byte and 4-byte preorder numbers", function()
    -- small graphs take 3 bytes a number in the dominator pass; the 4-byte code runs past
    -- 2^24 nodes: both on one graph with orphans (weakly held only) and a clique
    local nodes, edges = { { "synthetic", "", 1, 0 } }, {}
    for i = 2, 2000 do
      nodes[i] = { i % 3 == 0 and "array" or "object", "N" .. (i % 13), i * 2, i % 40 + 1 }
      if i <= 1800 then edges[#edges + 1] = { math.max(1, math.floor(i / 3)), i, "property", "p" .. (i % 4) } end
      local back = math.max(1, i - (i % 11) - 1)
      edges[#edges + 1] = i % 5 == 0 and { i, back, "weak", "w" } or { i, back, "element", i }
    end
    for i = 1801, 1900 do edges[#edges + 1] = { 1801 + (i - 1800) % 100, i, "property", "c" } end
    local text = fx.v8_text(fx.v8 { nodes = nodes, edges = edges })
    local _, narrow = core._tune(2 ^ 40, 0) -- 4 bytes
    local wide = assert(heap.parse(text))
    core._tune(2 ^ 40, narrow)
    local narrowed = assert(heap.parse(text))
    assert.are.same(wide:summary(), narrowed:summary())
    for id = 4, 4000, 2 do
      local a, b = wide:node(id), narrowed:node(id)
      assert.are.same({ a.retainedSize, a.distance, wide:dominator(id) },
        { b.retainedSize, b.distance, narrowed:dominator(id) })
    end
  end)

  it("reads the same ids for findLeaks", function()
    local function graph(ids)
      local nodes, edges = { { "synthetic", "", 1, 0 } }, {}
      for i, id in ipairs(ids) do
        nodes[i + 1] = { "object", id > 100 and "New" or "Old", id, 8 }
        edges[i] = { 1, i + 1, "element", i } -- indexes collapse: one path shape
      end
      return fx.file(fx.v8_text(fx.v8 { nodes = nodes, edges = edges }))
    end
    local a, b, c = graph { 3, 5, 7 }, graph { 3, 5, 7, 101, 103, 105 }, graph { 3, 7, 103, 105 }
    local split = assert(heap.findLeaks { baseline = a, target = b, final = c })
    core._tune(2 ^ 40)
    local serial = assert(heap.findLeaks { baseline = a, target = b, final = c })
    assert.are.same(serial, split)
    assert.are.equal(1, #split)
    assert.are.same({ "New", 2, 16 }, { split[1].class, split[1].count, split[1].retainedSize })
  end)

  it("reports the same error and offset as the serial path", function()
    local text = fx.v8_text(small())
    math.randomseed(11)
    local cuts = { (text:find('"nodes"', 1, true)) + 12, (text:find('"edges"', 1, true)) + 12, #text - 3 }
    for _ = 1, 400 do
      local pos = math.random((text:find('"nodes"', 1, true)), (text:find('"strings"', 1, true)))
      local ch = ({ "x", "9", ",", " ", "]", "-", "." })[math.random(1, 7)]
      local bad = text:sub(1, pos - 1) .. ch .. text:sub(pos + 1)
      local a, b = both(bad)
      assert.are.same({ b[2], b[3] }, { a[2], a[3] })
    end
    for _, cut in ipairs(cuts) do
      local a, b = both(text:sub(1, cut))
      assert.are.same({ b[2], b[3] }, { a[2], a[3] })
    end
  end)
end)
