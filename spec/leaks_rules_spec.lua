-- The leak finder's holder rules on hand-made snapshots, where every id and
-- edge is known: a Map cache that grows after each action is the holder of
-- its entries; a bounded one (an LRU at its limit, replacing entries) is not
-- a leak; objects in a linked list are held by the list's holder, not by
-- each other.
local fx = require "support.heapfixture"
local heap = require "memdbg.analysis.heap"

-- root -cache-> Map(3) -table-> (array)(tableId) -"0","1",...-> Entry(ids...)
local function map_snapshot(table_id, entry_ids)
  local nodes = { { "synthetic", "", 1, 0 }, { "object", "Map", 3, 32 }, { "array", "", table_id, 16 } }
  local edges = { { 1, 2, "property", "cache" }, { 2, 3, "internal", "table" } }
  for i, id in ipairs(entry_ids) do
    nodes[#nodes + 1] = { "object", "Entry", id, 24 }
    edges[#edges + 1] = { 3, #nodes, "internal", tostring(i - 1) }
  end
  return fx.file(fx.v8_text(fx.v8 { nodes = nodes, edges = edges }))
end

local function range(from, count)
  local t = {}
  for i = 0, count - 1 do t[#t + 1] = from + 2 * i end
  return t
end

local function concat(a, b)
  local t = {}
  for _, x in ipairs(a) do t[#t + 1] = x end
  for _, x in ipairs(b) do t[#t + 1] = x end
  return t
end

describe("leak holders (hand-made snapshots)", function()
  teardown(fx.cleanup)

  it("a Map whose table grows after each action holds its new entries: one group, holder Map", function()
    local a = map_snapshot(5, range(101, 2))
    local b = map_snapshot(7, concat(range(101, 2), range(201, 3)))
    local c = map_snapshot(9, concat(concat(range(101, 2), range(201, 3)), range(301, 3)))
    local groups = assert(heap.findLeaks { baseline = a, target = b, final = c })
    assert.are.equal(1, #groups)
    local g = groups[1]
    assert.are.same({ "Entry", 3, { 3, 3 } }, { g.class, g.count, g.growth })
    assert.are.same({ "Map", 3 }, { g.holder.class, g.holder.id })
    assert.are.same({ 3, 6, 9 }, g.holder.edges) -- the Map's one edge (table) plus its table's
    assert.is_true(g.holder.growing)
  end)

  it("a bounded Map replacing its entries (an LRU at its limit) reports nothing", function()
    local a = map_snapshot(5, range(101, 6))
    local b = map_snapshot(7, concat(range(107, 3), range(201, 3))) -- 3 evicted, 3 new
    local c = map_snapshot(9, concat(range(201, 3), range(301, 3)))
    local groups = assert(heap.findLeaks { baseline = a, target = b, final = c })
    assert.are.same({}, groups)
  end)

  it("a linked list's members are held by the list's holder, however long the list", function()
    -- root -timers-> List(3) -next-> Item -next-> Item ...; the first item is old
    local function list(ids)
      local nodes = { { "synthetic", "", 1, 0 }, { "object", "List", 3, 32 } }
      local edges = { { 1, 2, "property", "timers" } }
      for i, id in ipairs(ids) do
        nodes[#nodes + 1] = { "object", "Item", id, 24 }
        edges[#edges + 1] = { i == 1 and 2 or #nodes - 1, #nodes, "property", "next" }
      end
      return fx.file(fx.v8_text(fx.v8 { nodes = nodes, edges = edges }))
    end
    local a = list(range(101, 1))
    local b = list(concat(range(101, 1), range(201, 50)))
    local c = list(concat(concat(range(101, 1), range(201, 50)), range(401, 50)))
    local groups = assert(heap.findLeaks { baseline = a, target = b, final = c })
    assert.are.equal(1, #groups)
    assert.are.same({ "Item", 50, "List" }, { groups[1].class, groups[1].count, groups[1].holder.class })
    -- the path shows the run of links as one step
    local path = table.concat(groups[1].retainerPath, " | ")
    assert.matches("next %(property%) ×%d+ → Item @%d+", path)
  end)

  it("a signature does not depend on which of two equally short routes the search found", function()
    -- Window -f-> closure f -context-> scope A -cache-> Map, and Window -g-> closure g -context->
    -- scope B -store-> Map: two routes of one length to the Map; `swap` lists g's first, so the
    -- distance search finds the other one (and the holder's path shows it)
    local function routes(swap, table_id, entry_ids)
      local nodes = { { "synthetic", "", 1, 0 }, { "object", "Window", 3, 32 }, { "closure", "f", 5, 32 },
        { "closure", "g", 7, 32 }, { "hidden", "system / Context", 9, 32 }, { "hidden", "system / Context", 11, 32 },
        { "object", "Map", 13, 32 }, { "array", "", table_id, 16 } }
      local fe, ge = { 2, 3, "property", "f" }, { 2, 4, "property", "g" }
      local edges = { { 1, 2, "element", 1 }, swap and ge or fe, swap and fe or ge, { 3, 5, "internal", "context" },
        { 4, 6, "internal", "context" }, { 5, 7, "context", "cache" }, { 6, 7, "context", "store" },
        { 7, 8, "internal", "table" } }
      for i, id in ipairs(entry_ids) do
        nodes[#nodes + 1] = { "object", "Entry", id, 24 }
        edges[#edges + 1] = { 8, #nodes, "internal", tostring(i - 1) }
      end
      return fx.file(fx.v8_text(fx.v8 { nodes = nodes, edges = edges }))
    end
    local a, b = range(101, 2), concat(range(101, 2), range(201, 3))
    local c = concat(b, range(301, 3))
    local found = {}
    for _, swap in ipairs { false, true } do
      local groups = assert(heap.findLeaks { baseline = routes(swap, 15, a), target = routes(swap, 17, b),
        final = routes(swap, 19, c) })
      assert.are.equal(1, #groups)
      assert.are.same({ "Entry", "Map" }, { groups[1].class, groups[1].holder.class })
      found[#found + 1] = groups[1]
    end
    local p1, p2 = table.concat(found[1].holder.retainerPath, " | "), table.concat(found[2].holder.retainerPath, " | ")
    assert.matches("cache %(context%)", p1)
    assert.matches("store %(context%)", p2) -- the search did take the other route
    assert.matches("^%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x$", found[1].signature)
    assert.are.equal(found[1].signature, found[2].signature)
  end)
end)
