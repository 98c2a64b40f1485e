-- Verify-cleanup workflow: measure, run the allocate step, measure, run the
-- cleanup step, collect garbage (several rounds), measure again, and decide
-- whether what the allocate step added was released.
--   local verify = require "memdbg.workflows.verify_cleanup"
--   local r = verify.run(session, { allocate = "allocate(20)", cleanup = "release()" })
--   -- r = {released=bool, before=, allocated=, after=, retained=, grew=, tolerance=}
local steps = require("memdbg.workflows.steps")
local format = require("memdbg.util.format")

local verify = {}

local function used(session)
  local u, err, code = session.memory:getHeapUsage()
  if not u then return nil, err, code end
  return u.usedSize
end

--- run(session, {allocate=fn|expr, cleanup=fn|expr, gcRounds=3, traffic=fn,
---   tolerance = 0.1 (fraction of what was allocated), minTolerance = 256 KB})
--- Released when after - before <= max(tolerance * grew, minTolerance).
function verify.run(session, opts)
  opts = opts or {}
  for _, k in ipairs { "allocate", "cleanup" } do
    local t = type(opts[k])
    if t ~= "function" and t ~= "string" then
      error("verify_cleanup.run: " .. k .. " must be a Lua function or a JavaScript expression", 2)
    end
  end
  local rounds = opts.gcRounds or 3
  local ok, err, code = steps.collect(session, rounds, opts.traffic)
  if not ok then return nil, err, code end
  local r = {}
  r.before, err, code = used(session)
  if not r.before then return nil, err, code end
  ok, err, code = steps.run_action(session, opts.allocate, "allocate step")
  if ok == nil then return nil, err, code end
  ok, err, code = steps.collect(session, 1, opts.traffic)
  if not ok then return nil, err, code end
  r.allocated, err, code = used(session)
  if not r.allocated then return nil, err, code end
  ok, err, code = steps.run_action(session, opts.cleanup, "cleanup step")
  if ok == nil then return nil, err, code end
  ok, err, code = steps.collect(session, rounds, opts.traffic)
  if not ok then return nil, err, code end
  r.after, err, code = used(session)
  if not r.after then return nil, err, code end
  r.grew = r.allocated - r.before
  r.retained = r.after - r.before
  r.freed = r.allocated - r.after
  r.tolerance = math.max((opts.tolerance or 0.1) * math.max(r.grew, 0), opts.minTolerance or 256 * 1024)
  r.released = r.retained <= r.tolerance
  return r
end

function verify.format(r)
  local b = format.bytes
  return string.format("Before: %s\nAfter allocate: %s (+%s)\nAfter cleanup and GC: %s (%s%s vs before)\n%s\n",
    b(r.before), b(r.allocated), b(r.grew), b(r.after), r.retained >= 0 and "+" or "", b(r.retained),
    r.released and string.format("RELEASED: %s of %s freed", b(r.freed), b(r.grew))
      or string.format("NOT RELEASED: %s of %s still held (tolerance %s)", b(r.retained), b(r.grew), b(r.tolerance)))
end

return verify
