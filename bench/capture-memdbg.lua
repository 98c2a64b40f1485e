#!/usr/bin/env lua5.4
-- bench/capture's memdbg client: lua5.4 bench/capture-memdbg.lua ENDPOINT PATH
-- streams a heap snapshot to PATH and prints "bytes seconds".
-- With "inprocess" as a third argument it instead asks the app to run its own
-- v8.writeHeapSnapshot(PATH) (spec/apps/node-memory/app.js) and prints "ms".
local here = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("MEMDBG_BUILD") or (here .. "/build/lua5.4")) .. "/?.so;" .. package.cpath
local memdbg = require("memdbg")

local endpoint, path, mode = arg[1], arg[2], arg[3]
local s = assert(memdbg.connect { endpoint = endpoint })
if mode == "inprocess" then
  local ms = assert(s.memory:evaluate(string.format("writeSnapshot(%q)", path), { timeout = 900 }))
  print(string.format("%.3f", ms / 1000))
else
  local info = assert(s.memory:takeHeapSnapshot { path = path, timeout = 300 })
  print(string.format("%d %.3f", info.bytes, info.seconds))
end
s:close()
