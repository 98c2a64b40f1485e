-- The leak-pattern apps (spec/apps/leaks/) on Node, hunted by memdbg and, as a
-- second opinion, by MemLab on the very same three snapshots: for each
-- pattern and its correct twin, memdbg's first group and its rank of the
-- leaked class, MemLab's clusters (`memlab find-leaks --trace-all-objects`)
-- and the first one whose trace reaches the leaked class, and both tools'
-- analysis times. Prints a Markdown table. Not a test: see docs/benchmarks.md.
--   lua5.4 bench/leaks-patterns.lua [N]     (N requests per action, default 200)
local root = (arg[0]:match("^(.*)/bench/[^/]*$") or ".")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("MEMDBG_BUILD") or (root .. "/build/lua5.4")) .. "/?.so;" .. package.cpath
local cjson = require "cjson"
local core = require "memdbg._core"

local N = tonumber(arg[1] or 200)
local PATTERNS = { array = "Order", map = "CachedPage", set = "Session", timers = "JobContext", closures = "Report",
  emitter = "Subscriber", eventtarget = "Widget", fibers = "Poller" }
local ORDER = { "array", "map", "set", "timers", "closures", "emitter", "eventtarget", "fibers" }

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local tmp = sh("mktemp -d /tmp/memdbg-bench-leaks.XXXXXX"):gsub("%s+$", "")

local function start(pattern, mode)
  local log = tmp .. "/app.log"
  local pid = tonumber(sh(string.format(
    "cd %s && setsid node --inspect=127.0.0.1:0 spec/apps/leaks/app.mjs %s %s >%s 2>&1 </dev/null & echo $!",
    q(root), pattern, mode, q(log))))
  for _ = 1, 200 do
    local text = sh("cat " .. q(log))
    local port = text:match("Debugger listening on ws://127%.0%.0%.1:(%d+)/")
    if port and text:match("memdbg%-leak%-app ready") then return pid, "http://127.0.0.1:" .. port end
    sh("sleep 0.05")
  end
  error("the app did not start: " .. sh("cat " .. q(log)))
end

local function memlab(files, class)
  local t0 = core.now()
  local out = sh(string.format(
    "%s/tools/js/node_modules/.bin/memlab find-leaks --baseline %s --target %s --final %s --trace-all-objects 2>&1",
    q(root), q(files[1]), q(files[2]), q(files[3])))
  local secs = core.now() - t0
  local clusters, first, big = 0, nil, 0
  for count, trace in out:gmatch("%-%-Similar leaks in this run: (%d+)%-%-\n(.-)\n\n") do
    clusters = clusters + 1
    if tonumber(count) >= 100 then big = big + 1 end
    if not first and trace:find("[" .. class .. "]", 1, true) then first = clusters end
  end
  return { clusters = clusters, first = first, big = big, seconds = secs }
end

local rows = {}
for _, pattern in ipairs(ORDER) do
  for _, mode in ipairs { "leaky", "correct" } do
    local pid, endpoint = start(pattern, mode)
    local dir = tmp .. "/" .. pattern .. "-" .. mode
    local out = sh(string.format(
      "cd %s && lua5.4 scripts/memdbg leaks --endpoint %s --action 'handleRequests(%d)' --dir %s --json",
      q(root), endpoint, N, q(dir)))
    sh("kill -TERM -" .. pid .. " 2>/dev/null; kill -TERM " .. pid .. " 2>/dev/null")
    local doc = cjson.decode(out)
    local files = doc.snapshots
    local t0 = core.now()
    local fl = cjson.decode(sh(string.format("cd %s && lua5.4 scripts/memdbg find-leaks --json --top 0 %s %s %s",
      q(root), q(files[1]), q(files[2]), q(files[3]))))
    local msecs = core.now() - t0
    local class = PATTERNS[pattern]
    local rank, big = nil, 0
    for i, g in ipairs(fl.leaks) do
      if not rank and g.class == class then rank = i end
      if g.count >= 100 then big = big + 1 end
    end
    local ml = memlab(files, class)
    rows[#rows + 1] = string.format(
      "| %s | %s | %s | %s | %d (%d of >= 100) | %d (%d of >= 100) | %s | %.2f | %.2f |",
      pattern, mode, fl.leaks[1] and fl.leaks[1].class or "-", mode == "leaky" and tostring(rank or "not found") or "-",
      #fl.leaks, big, ml.clusters, ml.big, mode == "leaky" and tostring(ml.first or "not found") or "-", msecs,
      ml.seconds)
    io.stderr:write(rows[#rows], "\n")
    sh("rm -rf " .. q(dir))
  end
end
sh("rm -rf " .. q(tmp))
print(string.format("# %s, %s, N=%d", os.date("!%Y-%m-%dT%H:%MZ"), sh("cut -d' ' -f1-3 /proc/loadavg"):gsub("%s+$", ""), N))
print("| pattern | app | memdbg first group | rank of the leaked class (memdbg) | memdbg groups | MemLab clusters"
  .. " | first MemLab cluster reaching the class | memdbg s | MemLab s |")
print("|---|---|---|---|---|---|---|---|---|")
for _, r in ipairs(rows) do print(r) end
