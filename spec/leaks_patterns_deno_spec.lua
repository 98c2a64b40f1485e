-- memdbg leaks on each leak pattern of spec/apps/leaks/ under real Deno (npm deno), as a
-- new user runs it (`memdbg leaks --action 'handleRequests(200)' --json`):
-- the leaked class is the first group, with its holder and its constructor's
-- line; each correct twin reports no group of 100 objects or more. One Deno
-- process per describe.
local apps = require("support.leakapps")
local runtimes = require("support.runtimes")

local available, why = runtimes.available("deno")
if not available then
  describe("leak patterns on Deno", function() pending("deno not installed: " .. tostring(why)) end)
  return
end

-- `make check` runs the suite three times; the sanitizer and LuaJIT passes hunt
-- two patterns (none on Deno) and leave the rest pending, to keep the suite's budget.
local reduced = os.getenv("MEMDBG_SANITIZED") or (os.getenv("MEMDBG_BUILD") or ""):match("luajit")
local SUBSET = {}

for _, pattern in ipairs(apps.order) do
  for _, mode in ipairs { "leaky", "correct" } do
    if reduced and not SUBSET[pattern] then
      describe("leak pattern " .. pattern .. " (" .. mode .. ")", function()
        pending("hunted in the Lua 5.4 pass only (suite budget): " .. pattern .. " " .. mode)
      end)
      goto next
    end
    describe("leak pattern " .. pattern .. " (" .. mode .. ", Deno)", function()
      local app
      setup(function() app = apps.start("deno", pattern, mode) end)
      teardown(function() apps.stop(app) end)

      if mode == "leaky" then
        it("names " .. apps.patterns[pattern].class .. " first, with its holder and constructor line", function()
          local doc, code = apps.hunt(app, 200)
          assert.equal(1, code)
          apps.check_leaky("deno", pattern, doc)
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
