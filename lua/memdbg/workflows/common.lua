-- Shared pieces of the workflows, their scripts and the CLI subcommands:
-- running an action (Lua function or JavaScript expression), GC rounds,
-- timestamped names, private temp dirs, JSON with real empty arrays, exit
-- codes, and a progress bar on a terminal.
local core = require("memdbg._core")
local json = require("memdbg.util.json")
local describe = require("memdbg.util.describe")

local common = {}

common.DEFAULT_ENDPOINT = "http://127.0.0.1:9229"

-- Exit codes of the CLI and the scripts.
common.EXIT_OK, common.EXIT_FOUND, common.EXIT_USAGE, common.EXIT_RUNTIME = 0, 1, 2, 3

--- Runs an action: a Lua function(session) or a JavaScript expression
--- evaluated in the target (awaiting a promise). Returns value | nil, msg, code.
function common.run_action(session, action, label)
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

--- GC `rounds` times; a `traffic` function is called while waiting (workerd
--- collects only while it handles requests).
function common.collect(session, rounds, traffic)
  for _ = 1, rounds or 1 do
    local ok, err, code = session.memory:collectGarbage { whileWaiting = traffic }
    if not ok then return nil, err, code end
  end
  return true
end

--- "20261127-044301Z" (UTC, sortable); "-2", "-3"... within the same second.
local last_stamp, seq = nil, 1
function common.timestamp()
  local s = os.date("!%Y%m%d-%H%M%SZ")
  if s == last_stamp then
    seq = seq + 1
    return s .. "-" .. seq
  end
  last_stamp, seq = s, 1
  return s
end

-- os.execute's success under Lua 5.4 (true) and LuaJIT/5.1 (0).
local function execute_ok(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end
common.execute_ok = execute_ok

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
common.shell_quote = shell_quote

--- A new private directory (mode 0700) under $TMPDIR or /tmp; a run cut
--- short removes it with the snapshots in it (memdbg.util.files).
function common.tempdir(prefix)
  return require("memdbg.util.files").tempdir(prefix)
end

--- Makes dir (and parents) with mode 0700 if it does not exist.
function common.mkdir(dir)
  local ok = execute_ok("mkdir -p -m 0700 " .. shell_quote(dir) .. " 2>/dev/null")
  if not ok then return nil, "cannot create the directory " .. dir, "EIO" end
  return dir
end

function common.exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

function common.bytes(n)
  n = n or 0
  local a = math.abs(n)
  if a >= 1073741824 then return string.format("%.2f GB", n / 1073741824) end
  if a >= 1048576 then return string.format("%.1f MB", n / 1048576) end
  if a >= 1024 then return string.format("%.1f KB", n / 1024) end
  return string.format("%d B", math.floor(n))
end

------------------------------------------------------------------------ JSON

local ARRAY = {}
--- Marks a table as a JSON array (so an empty one encodes as []).
function common.array(t)
  return setmetatable(t or {}, ARRAY)
end

local function encode(v, out)
  local t = type(v)
  if t == "table" and v ~= json.null then
    local n = #v
    if getmetatable(v) == ARRAY or n > 0 then
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = json.encode(k)
        out[#out + 1] = ":"
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        encode(val, out)
      end
      out[#out + 1] = "}"
    end
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      out[#out + 1] = "null"
    elseif v == math.floor(v) and math.abs(v) < 2 ^ 53 then
      out[#out + 1] = string.format("%d", v)
    else
      out[#out + 1] = json.encode(v)
    end
  elseif t == "string" or t == "boolean" then
    out[#out + 1] = json.encode(v)
  else
    out[#out + 1] = "null"
  end
end

--- JSON text; tables marked with common.array stay arrays when empty.
function common.json(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

-------------------------------------------------------------------- progress

--- isatty(2), without a C helper; MEMDBG_PROGRESS=0|1 forces the answer
--- (as memdbg.cli.output does).
function common.stderr_is_tty()
  if common._tty == nil then
    local force = os.getenv("MEMDBG_PROGRESS")
    if force == "0" or force == "1" then
      common._tty = force == "1"
    else
      common._tty = execute_ok("test -t 2")
    end
  end
  return common._tty
end

--- A progress line for a snapshot on stderr when it is a terminal, nothing
--- otherwise. Returns update(done, total) and finish(). With a total it is
--- V8 building the snapshot (done/total are objects, shown as a percentage);
--- without one, done is the bytes written so far.
function common.progress(label, enabled)
  if enabled == false or not common.stderr_is_tty() then
    return function() end, function() end
  end
  local last, drawn = 0, false
  local function update(done, total)
    local t = core.now()
    if t - last < 0.1 and not (total and done >= total) then return end
    last = t
    local text
    if total and total > 0 then
      local frac = math.min(1, done / total)
      local width = 30
      local fill = math.floor(frac * width)
      text = string.format("\r%s [%s%s] %3d%%\27[K", label, string.rep("#", fill),
        string.rep(".", width - fill), math.floor(frac * 100))
    else
      text = string.format("\r%s: %s written\27[K", label, common.bytes(done))
    end
    drawn = true
    io.stderr:write(text)
    io.stderr:flush()
  end
  local function finish()
    if drawn then
      io.stderr:write("\r\27[K")
      io.stderr:flush()
      drawn = false
    end
  end
  return update, finish
end

------------------------------------------------------------------- connecting

--- Raises the usage error (exit 2) for an endpoint that does not parse.
function common.check_endpoint(text)
  local ok, err = require("memdbg.transport.endpoint").parse(text or common.DEFAULT_ENDPOINT)
  if not ok then error("memdbg-usage: --endpoint: " .. err .. "\n", 0) end
end

--- Connects for a command or script; on failure returns nil, msg, exit code 3.
--- The target may also name a worker or iframe (isolates.connect).
function common.connect(opts)
  common.check_endpoint(opts.endpoint)
  local s, err, code = require("memdbg.transport.isolates").connect {
    endpoint = opts.endpoint or common.DEFAULT_ENDPOINT,
    allowRemote = opts["allow-remote"] or opts.allowRemote,
    target = opts.target,
    timeout = opts["connect-timeout"] or 10,
  }
  if not s then return nil, string.format("%s [%s]", err, tostring(code)), common.EXIT_RUNTIME end
  return s
end

---------------------------------------------------------------- subcommands

common.COMMON_HELP = [[

Common options:
  --endpoint URL     inspector endpoint (default http://127.0.0.1:9229; ws://... for Bun)
  --target ID        which target at the endpoint (id or type; default: the first page/node),
                     or a worker or iframe under one: its id, or part of its title or URL
  --allow-remote     allow a non-loopback endpoint (an inspector gives full control)
  --json             print one JSON document instead of the human report
  --traffic URL      GET http://HOST:PORT/PATH while waiting on the runtime (GC, snapshots,
                     tracking): a Cloudflare worker collects garbage only while it handles requests
Exit codes: 0 success, 1 found what it looks for (a leak, memory not released,
an alert), 2 usage error (or the action threw), 3 runtime unreachable or failed.
]]

--- Exit code for an error code: the user's expression failing is theirs (2),
--- and so is an output path memdbg must not write (EPATH, EEXIST);
--- everything else is the runtime or the disk (3).
function common.exit_for(code)
  if code == "EEXCEPTION" or code == "EACTION" or code == "EPATH" or code == "EEXIST" then
    return common.EXIT_USAGE
  end
  return common.EXIT_RUNTIME
end

--- Reports a failure (stderr, and a JSON document with --json); returns the exit code.
function common.fail(name, opts, msg, code, exit)
  io.stderr:write(string.format("memdbg %s: %s\n", name, describe(msg)))
  if opts and opts.json then
    io.stdout:write(common.json { error = describe(msg), code = code and tostring(code) or nil }, "\n")
  end
  return exit or common.exit_for(code)
end

--- common.command(def, argv): the frame of a subcommand.
---   def = {name=, help=, options = {name = kind|{kind, default}}, positional = false,
---          check = fn(opts, pos) (may raise args.usage_error), connect = true,
---          run = fn(session, opts, pos) -> exit code | nil, msg, code}
function common.command(def, argv)
  local args = require("memdbg.cli.args")
  local spec = { endpoint = { "string", common.DEFAULT_ENDPOINT }, ["allow-remote"] = "flag", json = "flag",
    target = "string", traffic = "string" }
  for k, v in pairs(def.options or {}) do spec[k] = v end
  local opts, pos = args.parse(argv, spec, def.help .. common.COMMON_HELP)
  if #pos > 0 and not def.positional then args.usage_error("unexpected argument '" .. pos[1] .. "'") end
  if def.check then def.check(opts, pos) end
  common.check_endpoint(opts.endpoint)
  if def.connect == false then
    local code, msg, ecode = def.run(nil, opts, pos)
    if code == nil then return common.fail(def.name, opts, msg, ecode) end
    return code
  end
  if opts.traffic and not require("memdbg.transport.endpoint").parse(opts.traffic) then
    args.usage_error("--traffic takes an http://HOST:PORT/PATH URL, not '" .. opts.traffic .. "'")
  end
  local session, err = common.connect(opts)
  if not session then return common.fail(def.name, opts, err, nil, common.EXIT_RUNTIME) end
  if opts.traffic then common.drive_traffic(session, opts.traffic) end
  local ok, code, msg, ecode = xpcall(function() return def.run(session, opts, pos) end, debug.traceback)
  session:close()
  local files = require("memdbg.util.files")
  if not ok then
    -- cut short (Ctrl-C, SIGTERM, SIGHUP): leave no temp dir behind
    files.removeTemporaries()
    error(code, 0)
  end
  files.forgetTemporaries()
  if code == nil then return common.fail(def.name, opts, msg, ecode) end
  return code
end

--- drive_traffic(session, url): every wait of session.memory on the runtime
--- (GC, snapshots, stopping allocation tracking) sends GET url meanwhile,
--- unless the caller gives its own whileWaiting; session.traffic is set for
--- the --duration loops of sampling and tracking. For the CLI's --traffic.
function common.drive_traffic(session, url)
  local ep = assert(require("memdbg.transport.endpoint").parse(url))
  local host = require("memdbg.transport.endpoint").address(ep.host)
  local function traffic() core.httpGet(host, ep.port, ep.path, 2) end
  session.traffic = traffic
  local mem = session.memory
  for _, name in ipairs { "collectGarbage", "takeHeapSnapshot", "stopTrackingAllocations" } do
    local method = mem[name]
    mem[name] = function(self, o)
      if o ~= nil and type(o) ~= "table" then return method(self, o) end
      local c = {}
      for k, v in pairs(o or {}) do c[k] = v end
      if c.whileWaiting == nil then c.whileWaiting = traffic end
      return method(self, c)
    end
  end
  return traffic
end

--- Prints a JSON document on stdout.
function common.print_json(v)
  io.stdout:write(common.json(v), "\n")
end

--- Runs a script's main(argv) -> exit code, turning usage errors into exit 2.
function common.script(main, argv)
  local USAGE = "memdbg%-usage: "
  local ok, code = xpcall(function() return main(argv) end, debug.traceback)
  if not ok then
    local msg = tostring(code)
    if msg:match(USAGE) then
      io.stderr:write((arg and arg[0] or "script") .. ": " .. msg:match(USAGE .. "(.-)\n") .. "\n")
      os.exit(common.EXIT_USAGE)
    end
    io.stderr:write("internal error: " .. msg .. "\n")
    os.exit(70)
  end
  os.exit(code or 0)
end

return common
