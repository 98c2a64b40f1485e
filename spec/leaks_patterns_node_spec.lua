-- memdbg leaks on each leak pattern of spec/apps/leaks/ under real Node, as a
-- new user runs it (`memdbg leaks --action 'handleRequests(200)' --json`):
-- the leaked class is the first group, with its holder and its constructor's
-- line; each correct twin reports no group of 100 objects or more. One Node
-- process per describe.
local apps = require("support.leakapps")

-- `make check` runs the suite three times; the sanitizer and LuaJIT passes hunt
-- two patterns (map and timers on Node) and leave the rest pending, to keep the suite's budget.
local reduced = os.getenv("MEMDBG_SANITIZED") or (os.getenv("MEMDBG_BUILD") or ""):match("luajit")
local SUBSET = { map = true, timers = true }

local signatures = {} -- first group's signature per leaky pattern, to compare across runs

for _, pattern in ipairs(apps.order) do
  for _, mode in ipairs { "leaky", "correct" } do
    if reduced and not SUBSET[pattern] then
      describe("leak pattern " .. pattern .. " (" .. mode .. ")", function()
        pending("hunted in the Lua 5.4 pass only (suite budget): " .. pattern .. " " .. mode)
      end)
      goto next
    end
    describe("leak pattern " .. pattern .. " (" .. mode .. ", Node)", function()
      local app
      setup(function() app = apps.start("node", pattern, mode) end)
      teardown(function() apps.stop(app) end)

      if mode == "leaky" then
        it("names " .. apps.patterns[pattern].class .. " first, with its holder and constructor line", function()
          local doc, code = apps.hunt(app, 200)
          assert.equal(1, code)
          apps.check_leaky("node", pattern, doc)
          signatures[pattern] = doc.leaks[1].signature
        end)
      else
        it("stays quiet: no group of 100 objects or more", function()
          apps.check_correct((apps.hunt(app, 200)))
        end)
      end
    end)
    ::next::
  end
end

if reduced then return end

describe("leak pattern map with --track-allocations (Node)", function()
  local app
  setup(function() app = apps.start("node", "map", "leaky") end)
  teardown(function() apps.stop(app) end)

  it("gives the first group the stack that allocated its objects", function()
    local doc = apps.hunt(app, 100, "--track-allocations")
    local first = doc.leaks[1]
    assert.equal("CachedPage", first.class, apps.describe(doc))
    local st = first.allocationStack
    assert.is_table(st, "no allocationStack")
    assert.is_true(st.share >= 0.9, "share " .. st.share) -- (nearly) every page was cached by one call
    local line = 0
    for l in io.lines(apps.dir .. "/map.mjs") do
      line = line + 1
      if l:match("^export function leaky") then break end
    end
    local top = st.frames[1]
    assert.same({ "leaky", line }, { top.functionName, top.line })
    assert.matches("/spec/apps/leaks/map%.mjs$", top.url)
    assert.equal("handleRequests", st.frames[2].functionName)
    -- another process of the same program: the same signature (no ids, no counts in it)
    if signatures.map then assert.equal(signatures.map, first.signature) end
  end)
end)
