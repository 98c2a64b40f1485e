-- Starts a real Node.js app under the inspector on a free loopback port.
local proc = require("support.proc")
local node = {}

--- start{script = "path.js" | source = "js text", args = {...}} -> handle
--- handle.port, handle.endpoint ("http://127.0.0.1:PORT"), handle.ws (the ws URL)
function node.start(opts)
  local script = opts.script
  if opts.source then
    script = os.tmpname() .. ".js"
    local f = assert(io.open(script, "w"))
    f:write(opts.source)
    f:close()
  end
  local argv = { "node", "--inspect=127.0.0.1:0" }
  for _, a in ipairs(opts.nodeArgs or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = script
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = a end
  local h = proc.spawn { argv = argv }
  local ws, port = proc.wait_for(h, "Debugger listening on (ws://127%.0%.0%.1:(%d+)/[%w%-]+)", 20)
  h.ws, h.port = ws, tonumber(port)
  h.endpoint = "http://127.0.0.1:" .. port
  h.tmpScript = opts.source and script
  if opts.ready then proc.wait_for(h, opts.ready, 20) end
  return h
end

function node.stop(h)
  if not h then return end
  proc.stop(h)
  if h.tmpScript then os.remove(h.tmpScript) end
end

return node
