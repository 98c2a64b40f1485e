-- The snapshot-file subcommands: exit codes and --json shapes.
local fx = require "support.heapfixture"
local cjson = require "cjson"

local LUA = require("support.run").interpreter()

-- runs `memdbg ARGS...`; returns exit code, stdout, stderr
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

-- root -a-> A(3):10 -b-> B(5):20;  root -c-> C(7):5
local function graph(extra)
  local nodes = { { "synthetic", "", 1, 0 }, { "object", "A", 3, 10 }, { "object", "B", 5, 20 },
    { "object", "C", 7, 5 } }
  local edges = { { 1, 2, "property", "a" }, { 2, 3, "property", "b" }, { 1, 4, "property", "c" } }
  for _, n in ipairs(extra or {}) do
    nodes[#nodes + 1] = n
    edges[#edges + 1] = { 1, #nodes, "property", "x" .. #nodes }
  end
  return fx.v8_text(fx.v8 { nodes = nodes, edges = edges })
end

describe("memdbg snapshot-file subcommands", function()
  local dir, a, b
  setup(function()
    dir = fx.tmpdir()
    a = fx.write(dir .. "/a.json", graph())
    b = fx.write(dir .. "/b.json", graph { { "object", "New", 9, 7 }, { "object", "New", 11, 8 } })
  end)
  teardown(fx.cleanup)

  it("summary prints a table and --json gives nodeCount, edgeCount and classes", function()
    local code, out = memdbg("summary", a)
    assert.are.equal(0, code)
    assert.matches("Class%s+Count%s+Shallow%s+Retained", out)
    assert.matches("\nA%s+1%s+10 B%s+30 B", out)
    code, out = memdbg("summary", "--json", a)
    assert.are.equal(0, code)
    local doc = cjson.decode(out)
    assert.are.equal(4, doc.nodeCount)
    assert.are.equal(3, doc.edgeCount)
    assert.are.same({ name = "A", count = 1, shallowSize = 10, retainedSize = 30, distance = 1 }, doc.classes[1])
    assert.are.equal(3, #doc.classes)
    code, out = memdbg("summary", "--json", "--top", "1", a)
    assert.are.equal(0, code)
    assert.are.equal(1, #cjson.decode(out).classes)
  end)

  it("diff --json lists per-class changes", function()
    local code, out = memdbg("diff", "--json", a, b)
    assert.are.equal(0, code)
    local doc = cjson.decode(out)
    assert.are.same({ { name = "New", new = 2, deleted = 0, delta = 2, allocSize = 15, freedSize = 0,
      sizeDelta = 15 } }, doc.classes)
    code, out = memdbg("diff", b, a)
    assert.are.equal(0, code)
    assert.matches("New%s+0%s+2%s+%-2", out)
  end)

  it("retainers prints the path and --json returns its steps", function()
    local code, out = memdbg("retainers", a, "5")
    assert.are.equal(0, code)
    assert.matches("A @3\n%s+b %(property%) → B @5", out)
    code, out = memdbg("retainers", "--json", a, "@5")
    assert.are.equal(0, code)
    local doc = cjson.decode(out)
    assert.are.equal(5, doc.node.id)
    assert.are.equal(2, #doc.path)
    assert.are.equal("b", doc.path[2].edge)
    code = memdbg("retainers", a, "12345")
    assert.are.equal(2, code)
    code = memdbg("retainers", a, "x")
    assert.are.equal(2, code)
  end)

  it("top lists the largest objects", function()
    local code, out = memdbg("top", "--json", "--top", "2", a)
    assert.are.equal(0, code)
    local doc = cjson.decode(out)
    assert.are.equal(2, #doc.objects)
    assert.are.same({ 3, 30 }, { doc.objects[1].id, doc.objects[1].retainedSize })
    code, out = memdbg("top", a)
    assert.are.equal(0, code)
    assert.matches("@3", out)
  end)

  it("find-leaks exits 1 with groups when objects survive, 0 when none do", function()
    -- a: A B C;  b: + New@9, New@11;  c: New@9 still there, New@11 gone
    local c = fx.write(dir .. "/c.json", graph { { "object", "New", 9, 7 } })
    local code, out = memdbg("find-leaks", "--json", a, b, c)
    assert.are.equal(1, code)
    local doc = cjson.decode(out)
    assert.are.same({ a, b, c }, doc.snapshots)
    assert.are.equal(1, #doc.leaks)
    -- nothing new in c: growth cannot be judged, so the group stays with grown = 0
    local g = doc.leaks[1]
    assert.are.same({ "New", 1, 7, { "New @9" }, 0, false, { 1, 0 } },
      { g.class, g.count, g.retainedSize, g.retainerPath, g.grown, g.nested, g.growth })
    -- held by the root, which the baseline had; no source location in a hand-made file
    assert.are.same({ "(synthetic)", 1, {} }, { g.holder.class, g.holder.id, g.holder.retainerPath })
    assert.are.equal(3, #g.holder.edges)
    assert.are.equal(cjson.null, g.location)
    assert.matches("^" .. ("%x"):rep(16) .. "$", g.signature)
    code, out = memdbg("find-leaks", a, b, c)
    assert.are.equal(1, code)
    assert.matches("New", out)
    code, out = memdbg("find-leaks", "--json", a, b, a)
    assert.are.equal(0, code)
    doc = cjson.decode(out)
    assert.are.equal(0, #doc.leaks)
    assert.matches('"leaks":%[%]', out)
  end)

  it("exits 2 on usage errors and 3 on unreadable or malformed files", function()
    assert.are.equal(2, (memdbg("summary")))
    assert.are.equal(2, (memdbg("summary", "--bogus", a)))
    assert.are.equal(2, (memdbg("diff", a)))
    assert.are.equal(2, (memdbg("find-leaks", a, b)))
    assert.are.equal(2, (memdbg("top", "--top", "x", a)))
    local code, _, err = memdbg("summary", dir .. "/missing.heapsnapshot")
    assert.are.equal(3, code)
    assert.matches("ENOENT", err)
    local bad = fx.write(dir .. "/bad.json", graph():sub(1, 100))
    code, _, err = memdbg("summary", bad)
    assert.are.equal(3, code)
    assert.matches("byte 100", err)
    assert.matches("ETRUNCATED", err)
    assert.are.equal(3, (memdbg("diff", a, bad)))
    assert.are.equal(3, (memdbg("top", bad)))
    assert.are.equal(3, (memdbg("retainers", bad, "1")))
    assert.are.equal(3, (memdbg("find-leaks", a, b, bad)))
  end)

  it("prints --help and exits 0", function()
    for _, cmd in ipairs { "summary", "diff", "retainers", "top", "find-leaks" } do
      local code, out = memdbg(cmd, "--help")
      assert.are.equal(0, code)
      assert.matches("usage: memdbg " .. cmd:gsub("%-", "%%-"), out)
    end
  end)
end)
