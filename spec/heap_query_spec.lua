-- The query API for leak hunters (docs/heap-queries.md): snap:instances,
-- snap:edges, snap:retainers, snap:dominator, snap:dominated, and
-- `memdbg instances`, on a graph worked out by hand and on a real Node.js
-- snapshot.
local heap = require "memdbg.analysis.heap"
local fx = require "support.heapfixture"
local cjson = require "cjson"

local LUA = require("support.run").interpreter()

local function memdbg(...)
  local parts = { "MEMDBG_PROGRESS=0", LUA, "scripts/memdbg" }
  for _, a in ipairs { ... } do parts[#parts + 1] = "'" .. tostring(a):gsub("'", "'\\''") .. "'" end
  local outf, errf = os.tmpname(), os.tmpname()
  local r, _, code = os.execute(table.concat(parts, " ") .. " >" .. outf .. " 2>" .. errf)
  if type(r) == "number" then code = r >= 256 and math.floor(r / 256) or r end -- LuaJIT: a wait status
  local out, err = fx.read(outf), fx.read(errf)
  os.remove(outf)
  os.remove(errf)
  return code, out, err
end

-- root(1) -a-> A(3) Foo:10 -x-> X(5) Foo:20;  root -b-> B(7) Foo:5 -[0]-> S(9) "str":30
-- root -r-> R(11) closure:8 -ctx (internal)-> B
-- Dominators: A, B, R <- root (B is also held by R); X <- A; S <- B.
-- Retained: X 20, A 30, S 30, B 35, R 8. Instances of Foo by retained size: B 35, A 30, X 20.
local G = {
  nodes = { { "synthetic", "", 1, 0 }, { "object", "Foo", 3, 10 }, { "object", "Foo", 5, 20 },
    { "object", "Foo", 7, 5 }, { "string", "str", 9, 30 }, { "closure", "handler", 11, 8 } },
  edges = { { 1, 2, "property", "a" }, { 2, 3, "property", "x" }, { 1, 4, "property", "b" }, { 4, 5, "element", 0 },
    { 1, 6, "property", "r" }, { 6, 4, "internal", "ctx" } },
}

describe("heap query API", function()
  local file
  setup(function() file = fx.file(fx.v8_text(fx.v8(G))) end)
  teardown(fx.cleanup)

  it("lists the instances of a class, largest retained first, with a limit and the total", function()
    local snap = assert(heap.load(file))
    local ids, total = snap:instances("Foo")
    assert.are.same({ 7, 3, 5 }, ids)
    assert.are.equal(3, total)
    ids, total = snap:instances("Foo", { limit = 2 })
    assert.are.same({ 7, 3 }, ids)
    assert.are.equal(3, total)
    assert.are.same({ 11 }, (snap:instances("Function")))
    assert.are.same({}, (snap:instances("Nope")))
    assert.has_error(function() snap:instances(42) end)
    assert.has_error(function() snap:instances("Foo", { limit = -1 }) end)
    snap:close()
  end)

  it("gives a node's edges and retainers, element edges named by index", function()
    local snap = assert(heap.load(file))
    assert.are.same({ { name = "x", type = "property", to = 5 } }, snap:edges(3))
    assert.are.same({ { name = 0, type = "element", to = 9 } }, snap:edges(7))
    assert.are.same({ { name = "b", type = "property", from = 1 }, { name = "ctx", type = "internal", from = 11 } },
      snap:retainers(7))
    assert.are.same({}, snap:retainers(1))
    local v, err, code = snap:retainers(999)
    assert.is_nil(v)
    assert.are.equal("ERANGE", code)
    assert.matches("no node with id 999", err)
    assert.are.equal("ERANGE", select(3, snap:edges(999)))
    snap:close()
  end)

  it("walks the dominator tree up and down", function()
    local snap = assert(heap.load(file))
    assert.are.equal(3, snap:dominator(5))
    assert.are.equal(1, snap:dominator(7))
    assert.is_nil(snap:dominator(1))
    assert.are.same({ 7, 3, 11 }, snap:dominated(1))
    assert.are.same({ 9 }, snap:dominated(7))
    assert.are.same({}, snap:dominated(5))
    assert.are.equal("ERANGE", select(3, snap:dominated(999)))
    snap:close()
  end)

  it("memdbg instances prints each instance with its retainer path, --json too", function()
    local code, out = memdbg("instances", file, "Foo", "--top", "2")
    assert.are.equal(0, code, out)
    assert.matches("3 objects of class Foo, the 2 largest:", out, 1, true)
    assert.matches("#1  @7  retained 35 B", out, 1, true)
    assert.matches("\n    Foo @7\n", out, 1, true) -- a root's child: the path is the object itself
    code, out = memdbg("instances", file, "Foo", "--json", "--top", "0")
    assert.are.equal(0, code)
    local doc = cjson.decode(out)
    assert.are.equal(3, doc.count)
    assert.are.same({ 7, 3, 5 }, { doc.instances[1].id, doc.instances[2].id, doc.instances[3].id })
    assert.are.same({ 35, 30, 20 }, { doc.instances[1].retainedSize, doc.instances[2].retainedSize,
      doc.instances[3].retainedSize })
    assert.are.equal("x (property) → Foo @5", doc.instances[3].retainerPath[2].text)
    code, out = memdbg("instances", file, "Nope")
    assert.are.equal(1, code)
    assert.matches("no object of class Nope", out)
    assert.are.equal(2, (memdbg("instances", file)))
    assert.are.equal(2, (memdbg("instances", file, "Foo", "--top", "-1")))
    assert.are.equal(3, (memdbg("instances", file .. ".missing", "Foo")))
  end)
end)

local describe_node = fx.have_node() and describe or pending
describe_node("heap query API on a Node.js snapshot", function()
  teardown(fx.cleanup)

  it("finds every instance of a class and why each is alive", function()
    local dir = fx.tmpdir()
    local ok, out = fx.node(dir, [==[
      class Session { constructor(id) { this.id = id; this.buf = new Array(100).fill(id); } }
      const cache = new Map();
      for (let i = 0; i < 5; i++) cache.set(i, new Session(i));
      globalThis.cache = cache;
      globalThis.current = new Session(99);
      require('v8').writeHeapSnapshot('q.heapsnapshot');
    ]==])
    assert(ok, out)
    local snap = assert(heap.load(dir .. "/q.heapsnapshot"))
    local ids, total = snap:instances("Session")
    assert.are.equal(6, total)
    for i, id in ipairs(ids) do
      local n = snap:node(id)
      assert.are.equal("Session", n.className)
      assert.are.equal(dir .. "/app.js", n.location.url)
      if i > 1 then assert.is_true(snap:node(ids[i - 1]).retainedSize >= n.retainedSize) end
      -- the array it holds is among its edges, and it is among that array's retainers
      local buf
      for _, e in ipairs(snap:edges(id)) do if e.name == "buf" then buf = e.to end end
      assert.is_number(buf)
      local back = false
      for _, r in ipairs(snap:retainers(buf)) do back = back or (r.from == id and r.name == "buf") end
      assert.is_true(back)
      assert.are.equal(id, snap:dominator(buf))
      local path = table.concat((function()
        local t = {}
        for k, step in ipairs(assert(snap:retainerPath(id))) do t[k] = step.text end
        return t
      end)(), " → ")
      assert.is_truthy(path:match("cache %(property%) → Map") or path:match("current %(property%) → Session"), path)
    end
    snap:close()
  end)
end)
