-- Starts the scriptable mock inspector (spec/mock/mock_inspector.c) on a free loopback port.
-- It builds nothing: run `make` (or `make build/lua5.4/mock_inspector`) first.
local proc = require("support.proc")
local mock = {}

local function build_dir()
  return os.getenv("MEMDBG_BUILD") or "build/lua5.4"
end

--- Path of the mock binary for the current build.
function mock.binary()
  return build_dir() .. "/mock_inspector"
end

-- PID of this Lua process (the mock exits by itself once it is gone, even if a spec
-- crashes before mock.stop).
local function self_pid()
  local f = io.open("/proc/self/stat", "r")
  if not f then return nil end
  local pid = tonumber((f:read("*l") or ""):match("^(%d+)"))
  f:close()
  return pid
end

--- start{runtime = "node"|"chrome"|"deno"|"workerd"|"bun", snapshotBytes = N} -> handle
--- handle.port, handle.endpoint ("http://127.0.0.1:PORT"), handle.ws (the first target's
--- ws URL; for chrome that is the browser_ui target), handle.runtime.
--- proc.output(handle) is the mock's log (one line per command, pong, close, fault...).
function mock.start(opts)
  opts = opts or {}
  local bin = mock.binary()
  local f = io.open(bin, "r")
  if not f then
    error("mock inspector not built: " .. bin .. " (run `make " .. bin .. "`)")
  end
  f:close()
  local argv = { bin, "--runtime", opts.runtime or "node", "--port", tostring(opts.port or 0) }
  if opts.snapshotBytes then
    argv[#argv + 1] = "--snapshot-bytes"
    argv[#argv + 1] = string.format("%d", opts.snapshotBytes)
  end
  local me = self_pid()
  if me then
    argv[#argv + 1] = "--watch-pid"
    argv[#argv + 1] = tostring(me)
  end
  -- With a cwd, proc.spawn execs the command, so h.pid is the mock itself and a plain
  -- `kill PID` stops it (its connection children die with it, PR_SET_PDEATHSIG).
  local h = proc.spawn { argv = argv, cwd = "." }
  local port, ws = proc.wait_for(h, "LISTENING (%d+)\nWS (%S+)\n", 10)
  h.port = tonumber(port)
  h.endpoint = "http://127.0.0.1:" .. port
  h.ws = ws
  h.runtime = opts.runtime or "node"
  return h
end

--- The mock's log so far (stdout and stderr).
function mock.log(h)
  return proc.output(h)
end

function mock.stop(h)
  proc.stop(h)
end

return mock
