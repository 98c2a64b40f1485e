-- Benchmarks of the leak hunt's outside actions and of the sampling hunt's
-- overhead (not tests; bench/actions runs this). Prints a table of figures.
--   lua5.4 bench/actions-memdbg.lua http   URL N C          memdbg's core.httpLoad: req/s
--   lua5.4 bench/actions-memdbg.lua load   URL SECONDS C    req/s a load holds for SECONDS
--   lua5.4 bench/actions-memdbg.lua sample ENDPOINT INTERVAL|off  start (or stop) sampling, then exit
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("MEMDBG_BUILD") or "build/lua5.4") .. "/?.so;" .. package.cpath
local core = require("memdbg._core")
local actions = require("memdbg.workflows.actions")

local what = arg[1]

local function load_for(url, n, c, seconds)
  local u = assert(actions.parse_url(url))
  local l = assert(core.httpLoad { host = u.host, port = u.port, path = u.path, hostHeader = u.hostHeader,
    requests = n, concurrency = c })
  local t0 = core.now()
  while not l:step(0.1) do
    if seconds and core.now() - t0 >= seconds then break end
  end
  local r = l:result()
  local t = core.now() - t0
  l:close()
  local ok = 0
  for _, v in pairs(r.statuses) do ok = ok + v end
  return ok, t, r.errors
end

if what == "http" then
  local ok, t, errors = load_for(arg[2], tonumber(arg[3]), tonumber(arg[4]))
  print(string.format('{"requests":%d,"seconds":%.3f,"errors":%d}', ok, t, errors))
elseif what == "load" then
  local ok, t, errors = load_for(arg[2], 1e9, tonumber(arg[4]), tonumber(arg[3]))
  print(string.format('{"requests":%d,"seconds":%.3f,"errors":%d}', ok, t, errors))
elseif what == "sample" then
  -- one session holds the profiler for as long as this process lives (V8
  -- stops it when the connection drops): start, then wait for stdin to close
  local memdbg = require("memdbg")
  local s = assert(memdbg.connect { endpoint = arg[2] })
  if arg[3] ~= "off" then
    assert(s.memory:startSamplingHeapProfiler { samplingInterval = tonumber(arg[3]) })
  end
  io.stdout:write("ready\n")
  io.stdout:flush()
  io.read("a")
  s:close()
else
  io.stderr:write("usage: see the top of bench/actions-memdbg.lua\n")
  os.exit(2)
end
