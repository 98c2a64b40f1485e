-- A leak group's signature (issue 9) is what an ignore file (issue 10's CI gate)
-- matches, so it must be the same for the same leak of the same program: in two
-- hunts of one process (the second one's baseline already has what the first
-- action created, so the holder can move: a Map, then the list its entry became)
-- and in another process of the program (another distance search, other ids).
-- Each leaky pattern of spec/apps/leaks/ under real Node, and the node-memory
-- app, whose leak is reached through any of several globals sharing a context.
local apps = require("support.leakapps")
local node = require("support.node")
local cli = require("support.cli")
local json = require("memdbg.util.json")

-- the sanitizer and LuaJIT passes check the two whose holder moves between hunts
local reduced = os.getenv("MEMDBG_SANITIZED") or (os.getenv("MEMDBG_BUILD") or ""):match("luajit")
local SUBSET = { emitter = true, ["node-memory"] = true }
local PATTERNS = { "array", "map", "set", "timers", "closures", "emitter", "fibers" }
local N = 60

-- signature of every group of the leaked class (a set), and the text for messages
local function sigs_of(doc, class)
  local set, text = {}, {}
  for _, g in ipairs(doc.leaks) do
    if g.class == class then set[g.signature] = true end
    text[#text + 1] = string.format("%s %s (holder %s)", g.signature, g.class, g.holder and g.holder.class or "-")
  end
  return set, table.concat(text, "\n")
end

local function same_signatures(runs, class)
  local first, ftext = sigs_of(runs[1], class)
  assert.is_not_nil(next(first), "no group of " .. class .. ":\n" .. ftext)
  for i = 2, #runs do
    local other, otext = sigs_of(runs[i], class)
    assert.are.same(first, other, "run 1:\n" .. ftext .. "\nrun " .. i .. ":\n" .. otext)
  end
end

-- node-memory: `memdbg leaks --action 'handleRequests(N)' --json`, as leakapps.hunt does
local function hunt_memory(h)
  local code, out, err = cli.memdbg("leaks", "--endpoint", h.endpoint, "--action", "handleRequests(" .. N .. ")",
    "--json")
  assert(code == 1, "memdbg leaks exited " .. tostring(code) .. ": " .. err)
  local doc = json.decode(out)
  for _, p in ipairs(doc.snapshots) do os.remove(p) end
  if doc.snapshots[1] then os.remove((doc.snapshots[1]:match("^(.*)/[^/]+$"))) end
  return doc
end

local function start_memory()
  return node.start { script = "spec/apps/node-memory/app.js", args = { "leaky" },
    ready = "memdbg%-memory%-app ready" }
end

local cases = {}
for _, p in ipairs(PATTERNS) do
  cases[#cases + 1] = { name = p, class = apps.patterns[p].class,
    start = function() return apps.start("node", p, "leaky") end, stop = apps.stop,
    hunt = function(h) return (apps.hunt(h, N)) end }
end
cases[#cases + 1] = { name = "node-memory", class = "LeakyListener", start = start_memory, stop = node.stop,
  hunt = hunt_memory }

for _, c in ipairs(cases) do
  describe("leak signature of " .. c.name .. " (Node)", function()
    if reduced and not SUBSET[c.name] then
      pending("checked in the Lua 5.4 pass only (suite budget): " .. c.name)
      return
    end
    -- another process for the two whose holder moves, and for the rest one
    -- process's two hunts (another distance search and baseline; suite budget)
    local other = SUBSET[c.name]
    it("is the same in two hunts of one process" .. (other and " and in another process" or ""), function()
      local runs = {}
      local a = c.start()
      local ok, err = pcall(function()
        runs[1] = c.hunt(a)
        runs[2] = c.hunt(a)
      end)
      c.stop(a)
      assert(ok, err)
      if other then
        local b = c.start()
        ok, err = pcall(function() runs[3] = c.hunt(b) end)
        c.stop(b)
        assert(ok, err)
      end
      same_signatures(runs, c.class)
    end)
  end)
end
