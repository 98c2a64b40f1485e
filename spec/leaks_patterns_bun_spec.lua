-- memdbg leaks on the leak-pattern apps of spec/apps/leaks/ under real Bun
-- (npm bun, WebKit inspector, JavaScriptCore snapshots), as a new user runs
-- it: `bun --inspect=127.0.0.1:0/memdbg app.mjs PATTERN MODE`, then
-- `memdbg leaks --endpoint ws://... --action 'handleRequests(200)' --json`.
-- JSC snapshots carry no source locations and record no edge out of a Map's
-- or Set's storage (csrc/heap/jsc.c): the leaked class must still come
-- first, held by what the snapshot shows; each correct twin reports no group
-- of 100 objects or more. One Bun process per describe.
local apps = require("support.leakapps")
local runtimes = require("support.runtimes")

local available, why = runtimes.available("bun")
if not available then
  describe("leak patterns on Bun", function() pending("bun not installed: " .. tostring(why)) end)
  return
end

-- the holder each pattern's leak shows on Bun: a Map's or Set's entries hang
-- from the synthetic node jsc.c adds for cells no recorded edge reaches; Bun's
-- timers hold their callbacks by strong handles (StrongRootBlock)
local PATTERNS = {
  array = { class = "Order", holder = "^Array$" },
  map = { class = "CachedPage", holder = "^%(held by edges JSC does not record%)$" },
  set = { class = "Session", holder = "^%(held by edges JSC does not record%)$" },
  timers = { class = "JobContext", holder = "^StrongRootBlock$" },
}
local ORDER = { "array", "map", "set", "timers" }

-- `make check`'s sanitizer and LuaJIT passes hunt the Map pattern only (suite budget)
local reduced = os.getenv("MEMDBG_SANITIZED") or (os.getenv("MEMDBG_BUILD") or ""):match("luajit")

for _, pattern in ipairs(ORDER) do
  for _, mode in ipairs { "leaky", "correct" } do
    if reduced and pattern ~= "map" then
      describe("leak pattern " .. pattern .. " (" .. mode .. ", Bun)", function()
        pending("hunted in the Lua 5.4 pass only (suite budget): " .. pattern .. " " .. mode)
      end)
      goto next
    end
    describe("leak pattern " .. pattern .. " (" .. mode .. ", Bun)", function()
      local app
      setup(function() app = apps.start("bun", pattern, mode) end)
      teardown(function() apps.stop(app) end)

      if mode == "leaky" then
        local want = PATTERNS[pattern]
        it("names " .. want.class .. " first, with its holder and no source location", function()
          local doc, code = apps.hunt(app, 200)
          assert.equal(1, code)
          local first = doc.leaks[1]
          assert(first, "no leak group for the " .. pattern .. " pattern")
          assert.equal(want.class, first.class, apps.describe(doc))
          assert.equal(200, first.count, apps.describe(doc))
          -- a page the app still refers to may outlive the second action: 199 or 200
          assert(first.growth[1] == 200 and first.growth[2] >= 199, apps.describe(doc))
          assert.matches(want.holder, first.holder.class)
          assert.equal(3, #first.holder.edges)
          assert(first.holder.edges[1] < first.holder.edges[2] and first.holder.edges[2] < first.holder.edges[3],
            "the holder did not grow after each action")
          -- JSON null: JSC snapshots have no source locations
          assert.is_not_table(first.location)
        end)
      else
        it("stays quiet: no group of 100 objects or more", function()
          local doc, code = apps.hunt(app, 200)
          apps.check_correct(doc)
          assert.equal(0, code)
        end)
      end
    end)
    ::next::
  end
end
