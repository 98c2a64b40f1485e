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
  local h = proc.spawn { argv = argv }
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
