#!/usr/bin/env lua5.4
-- bench/soak's idle session: lua5.4 bench/soak-idle.lua ENDPOINT SECONDS
-- connects, runs the session's loop without a command for SECONDS, then
-- evaluates 6*7; prints what happened and exits 0 only if the session lived.
local here = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("MEMDBG_BUILD") or (here .. "/build/lua5.4")) .. "/?.so;" .. package.cpath
local memdbg = require("memdbg")

local endpoint, seconds = arg[1], tonumber(arg[2])
local s = assert(memdbg.connect { endpoint = endpoint })
local t0 = require("memdbg._core").now()
local ok, err, code = s:poll(seconds)
local idle = require("memdbg._core").now() - t0
if not ok then
  print(string.format("session lost after %.1f s idle: %s [%s]", idle, tostring(err), tostring(code)))
  os.exit(1)
end
local r, rerr = s:sendCommand { method = "Runtime.evaluate", params = { expression = "6*7" } }
if not r then
  print(string.format("after %.1f s idle, 6*7 failed: %s", idle, tostring(rerr)))
  os.exit(1)
end
print(string.format("alive after %.1f s idle; 6*7 = %s", idle, tostring(r.result.value)))
s:close()
