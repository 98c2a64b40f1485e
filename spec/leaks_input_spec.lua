-- find-leaks and heap.findLeaks on corrupt baseline and target files: each
-- kind of corruption fails as a full load of that file fails (the same code),
-- never "no leaks" (issue 12, item 5: the id pass used to stop after nodes).
local fx = require "support.heapfixture"
local heap = require "memdbg.analysis.heap"

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

-- root -> Thing x count (ids 3, 5, ...), each Thing -> a string
local function text(count)
  local nodes, edges = { { "synthetic", "", 1, 0 } }, {}
  for i = 1, count do
    nodes[#nodes + 1] = { "object", "Thing", 1 + 2 * i, 16 }
    edges[#edges + 1] = { 1, #nodes, "element", i }
  end
  local n = #nodes
  for i = 2, n do
    nodes[#nodes + 1] = { "string", "s" .. i, 100000 + 2 * i, 8 }
    edges[#edges + 1] = { i, #nodes, "property", "label" }
  end
  return fx.v8_text(fx.v8 { nodes = nodes, edges = edges })
end

-- Each corruption: a name, and a function from a valid text to a broken one.
local function edges_at(t) return assert(t:find('"edges":%[')) end
local corruptions = {
  { "cut in the middle of the edges", function(t) return t:sub(1, edges_at(t) + 40) end },
  { "garbage after the nodes array", function(t)
    local at = edges_at(t)
    return t:sub(1, at - 3) .. "]xyz" .. t:sub(at - 1)
  end },
  { "trailing data after the snapshot", function(t) return t .. "{}" end },
  { "an edge pointing past the nodes", function(t)
    return (t:gsub('("edges":%[%d+,%d+,)%d+', "%1999999", 1))
  end },
  { "an edge naming a string that does not exist", function(t)
    -- the last edge is a property edge: its name becomes string 99999
    return (t:gsub("(,2,)(%d+)(,%d+%],\n\"strings\")", "%199999%3", 1))
  end },
  { "an edge of a type the meta does not list", function(t)
    return (t:gsub('("edges":%[)%d+', "%142", 1))
  end },
  { "fewer edges than the nodes' edge counts", function(t)
    return (t:gsub(",%d+,%d+,%d+%],\n\"strings\"", '],\n"strings"', 1))
  end },
  { "no strings array", function(t) return (t:gsub(',\n"strings":%b[]', "", 1)) end },
  { "a string cut short (unterminated)", function(t) return t:sub(1, #t - 6) end },
}

describe("find-leaks on corrupt baseline and target files", function()
  local dir, good_a, good_c
  setup(function()
    dir = fx.tmpdir()
    good_a = fx.write(dir .. "/a.json", text(10))
    good_c = fx.write(dir .. "/c.json", text(30))
  end)
  teardown(fx.cleanup)

  it("the fixtures themselves load, and a real leak is found between them", function()
    assert.is_truthy(heap.load(good_a))
    local groups = assert(heap.findLeaks { baseline = good_a, target = good_c, final = good_c })
    assert.are.equal("Thing", groups[1].class)
  end)

  -- the baseline and target are read on a thread beside the final's load: the
  -- error is still the first bad file's in the order baseline, target, final
  it("several bad files: the first one in order decides the error, as a load in order would", function()
    local t = text(10)
    local cut = fx.write(dir .. "/cut.json", t:sub(1, #t - 6)) -- ETRUNCATED
    local trailing = fx.write(dir .. "/trailing.json", t .. "{}") -- EFORMAT
    local _, _, cut_code = heap.load(cut)
    local _, _, trailing_code = heap.load(trailing)
    assert.are_not.equal(cut_code, trailing_code)
    for _, case in ipairs {
      { { baseline = cut, target = trailing, final = trailing }, cut, cut_code },
      { { baseline = trailing, target = cut, final = cut }, trailing, trailing_code },
      { { baseline = good_a, target = cut, final = trailing }, cut, cut_code },
      { { baseline = good_a, target = good_c, final = cut }, cut, cut_code },
    } do
      local g, err, code = heap.findLeaks(case[1])
      assert.is_nil(g)
      assert.are.equal(case[3], code)
      assert.matches(case[2], err, 1, true)
    end
  end)

  for _, c in ipairs(corruptions) do
    local name, corrupt = c[1], c[2]
    for _, role in ipairs { "baseline", "target" } do
      it(role .. ": " .. name .. " fails as a full load does", function()
        local bad = fx.write(dir .. "/bad-" .. role .. ".json", corrupt(text(10)))
        local snap, lerr, lcode = heap.load(bad)
        assert.is_nil(snap, "the corruption did not corrupt: " .. name)
        assert.is_string(lerr)
        local files = { baseline = good_a, target = good_c, final = good_c }
        files[role] = bad
        local g, err, code = heap.findLeaks(files)
        assert.is_nil(g)
        assert.are.equal(lcode, code)
        assert.matches(bad, err, 1, true)
        local exit, out, stderr = memdbg("find-leaks", files.baseline, files.target, files.final)
        assert.are.equal(3, exit, out)
        assert.matches(lcode, stderr, 1, true)
      end)
    end
  end
end)
