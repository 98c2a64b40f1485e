-- Deno: the CDP adapter (memory/cdp.lua) with one quirk worked around.
--
-- Deno 2.9's inspector answers `Runtime.evaluate {awaitPromise: true}` with
-- "Promise was collected" (-32000) when the expression allocates enough to
-- start a GC before Deno runs its next microtask checkpoint: V8 holds the
-- promise it awaits only weakly (denoland/deno#20528, #33735). By then the
-- expression has run, so retrying would run it twice.
--
-- So evaluate never asks Deno to await. The expression runs through an
-- indirect eval (the same completion value as Runtime.evaluate; `let` and
-- `const` stay local to it), in an object group, which holds the result
-- strongly; a thenable result gets a no-op rejection handler at once (Deno
-- exits on an unhandled rejection) and is then awaited with
-- Runtime.awaitPromise; an object result is fetched by value with
-- Runtime.callFunctionOn; the group is released afterwards.
local cdp = require("memdbg.memory.cdp")
local json = require("memdbg.util.json")

local deno = {}

local Deno = {}
Deno.__index = Deno

local SLOW = 120
local GROUP = "memdbg-evaluate"

function deno.new(session, mem)
  local a = cdp.new(session, mem)
  if getmetatable(Deno) == nil then setmetatable(Deno, { __index = getmetatable(a) }) end
  return setmetatable(a, Deno)
end

local describe_exception = cdp.describe_exception

function Deno:evaluate(expr, opts)
  local await = opts.awaitPromise
  if await == nil then await = true end
  -- not awaiting, or wanting a remote object: the plain CDP path is safe
  if not await or opts.returnByValue == false then return getmetatable(Deno).__index.evaluate(self, expr, opts) end
  local s = self.session
  local timeout = opts.timeout or SLOW
  local r, msg, code = s:sendCommand { method = "Runtime.evaluate", timeout = timeout, params = {
    expression = "(function (v) { if (v !== null && (typeof v === 'object' || typeof v === 'function') && "
      .. "typeof v.then === 'function') v.then(undefined, function () {}); return v; })((0, eval)("
      .. json.encode(expr) .. "))",
    awaitPromise = false, returnByValue = false, objectGroup = GROUP,
    contextId = opts.contextId } }
  if r and type(r.exceptionDetails) ~= "table" and type(r.result) == "table" and r.result.objectId then
    local obj = r.result
    if obj.subtype == "promise" then
      r, msg, code = s:sendCommand { method = "Runtime.awaitPromise", timeout = timeout, params = {
        promiseObjectId = obj.objectId, returnByValue = true } }
    else
      r, msg, code = s:sendCommand { method = "Runtime.callFunctionOn", timeout = timeout, params = {
        objectId = obj.objectId, functionDeclaration = "function () { return this; }", returnByValue = true } }
    end
  end
  -- best effort, without waiting for the answer
  if s:isOpen() then
    s:sendCommand { method = "Runtime.releaseObjectGroup", params = { objectGroup = GROUP }, timeout = 5,
      callback = function() end }
  end
  if not r then return nil, msg, code end
  if type(r.exceptionDetails) == "table" then
    return nil, string.format("the expression %q threw: %s", expr, describe_exception(r.exceptionDetails)),
      "EEXCEPTION"
  end
  local res = type(r.result) == "table" and r.result or {}
  if res.value ~= nil then return res.value, res end
  return res.description or res.type or true, res
end

return deno
