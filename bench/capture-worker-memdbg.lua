#!/usr/bin/env lua5.4
-- bench/capture-worker's memdbg client: lua5.4 bench/capture-worker-memdbg.lua ENDPOINT PATH
-- streams the first worker's heap snapshot to PATH (children(), attach(), the
-- C sink through the NodeWorker wrapper) and prints "bytes seconds".
-- With "inprocess" as a third argument it asks the app to write the worker's
-- snapshot itself (worker.getHeapSnapshot(), spec/apps/isolates/app.js) and prints seconds.
local here = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("MEMDBG_BUILD") or (here .. "/build/lua5.4")) .. "/?.so;" .. package.cpath
local memdbg = require("memdbg")

local endpoint, path, mode = arg[1], arg[2], arg[3]
local s = assert(memdbg.connect { endpoint = endpoint })
if mode == "inprocess" then
  local ms = assert(s.memory:evaluate(string.format("writeWorkerSnapshot(%q)", path), { timeout = 900 }))
  print(string.format("%.3f", ms / 1000))
else
  local w = assert(s:attach(assert(s:children())[1].id))
  local info = assert(w.memory:takeHeapSnapshot { path = path, timeout = 300 })
  print(string.format("%d %.3f", info.bytes, info.seconds))
end
s:close()
