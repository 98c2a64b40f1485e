-- The steps workflows share: running a user's step (a Lua function or a
-- JavaScript expression) and rounds of garbage collection.
--   local steps = require "memdbg.workflows.steps"
--   local v, err, code = steps.run_action(session, "allocate(20)", "allocate step")
--   local ok, err, code = steps.collect(session, 3, traffic)
local describe = require("memdbg.util.describe")

local steps = {}

--- run_action(session, action, label) -> value | nil, message, code: a Lua
--- function(session) (a raised error is "EACTION") or a JavaScript expression
--- evaluated in the target, awaiting a promise ("EEXCEPTION" when it throws);
--- nil does nothing. Anything else is a programming mistake and raises.
function steps.run_action(session, action, label)
  label = label or "action"
  if type(action) == "function" then
    local ok, v = pcall(action, session)
    if not ok then return nil, string.format("the %s failed: %s", label, describe(v)), "EACTION" end
    if v == nil then v = true end
    return v
  elseif type(action) == "string" then
    local v, err, code = session.memory:evaluate(action, { awaitPromise = true })
    if v == nil then return nil, string.format("the %s failed: %s", label, describe(err)), code end
    return v
  elseif action == nil then
    return true
  end
  error("the " .. label .. " must be a Lua function or a JavaScript expression", 3)
end

--- collect(session, rounds, traffic) -> true | nil, message, code: GC
--- `rounds` times (default 1); traffic, when given, is called while waiting
--- (else the session's own traffic option is).
function steps.collect(session, rounds, traffic)
  for _ = 1, rounds or 1 do
    local ok, err, code = session.memory:collectGarbage { whileWaiting = traffic }
    if not ok then return nil, err, code end
  end
  return true
end

return steps
