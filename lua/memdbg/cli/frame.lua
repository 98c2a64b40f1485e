-- The frame of every memdbg subcommand and workflow script: options and
-- --help, usage errors, connecting, running, reporting a failure, exit
-- codes, and leaving nothing behind when a run is cut short. Nothing here
-- exits the process: the frame returns exit codes, and the program's entry
-- (scripts/memdbg, a workflow script) hands them to os.exit.
--
--   return frame.command {                      -- a subcommand module (memdbg.cli.NAME)
--     name = "gc", help = "usage: memdbg gc ...\n...",
--     options = { rounds = { "count", 1 } },    -- args.parse's spec; --json is always there
--     positional = false,                       -- true: run gets the positional arguments
--     check = function(opts, pos) if opts.rounds < 1 then return "--rounds must be at least 1" end end,
--     connect = true,                           -- false: no session (file commands); "endpoint":
--                                               --   the options of connecting, checked, but no session
--     run = function(session, opts, pos) ... return 0 end,  -- or nil, message, code[, exit]
--     exits = "0 ok, 3 ...\n",                  -- the help's exit codes, when not the usual ones
--     writes = true,                            -- writes named files: --force, --no-clobber (OUTPUT_OPTIONS)
--   }
--   os.exit(frame.script({ ... same fields ... }, arg))  -- a workflow script
--
-- Exit codes: 0 ok, 1 found what was looked for (a leak, memory not
-- released, an alert), 2 usage error (or the user's action failed, or an
-- output path memdbg will not write), 3 the runtime or a file failed, 70 an
-- internal error, 129/130/143 stopped by SIGHUP/Ctrl-C/SIGTERM.
local args = require("memdbg.cli.args")
local json = require("memdbg.util.json")
local describe = require("memdbg.util.describe")

local frame = {}

frame.EXIT_OK, frame.EXIT_FOUND, frame.EXIT_USAGE, frame.EXIT_RUNTIME, frame.EXIT_INTERNAL = 0, 1, 2, 3, 70

frame.DEFAULT_ENDPOINT = "http://127.0.0.1:9229"

-- The longest wait any option may ask for: --timeout, --interval, --duration,
-- --action-timeout, --connect-timeout (seconds; a day).
frame.MAX_SECONDS = 86400

-- The options of every command that connects.
frame.CONNECT_OPTIONS = {
  endpoint = { "string", frame.DEFAULT_ENDPOINT }, ["allow-remote"] = "flag", target = "string",
  traffic = "string", ["connect-timeout"] = { "number", 10 },
}

frame.CONNECT_HELP = [[

Connecting:
  -e, --endpoint URL   inspector endpoint (default http://127.0.0.1:9229; ws://... for Bun)
  --target ID          which target at the endpoint (id or type; default: the first page/node),
                       or a worker or iframe under one: its id, or part of its title or URL
  --allow-remote       allow a non-loopback endpoint (an inspector gives full control)
  --traffic URL        GET http://HOST:PORT/PATH while waiting on the runtime (GC, snapshots,
                       tracking): a Cloudflare worker collects garbage only while it handles requests
  --connect-timeout S  how long connecting, and each command, may wait for the runtime (default 10)
]]

-- The options of every command that writes a named file (docs/files.md):
-- opts.force and opts["no-clobber"], handed on as force= and noClobber=.
frame.OUTPUT_OPTIONS = { force = "flag", ["no-clobber"] = "flag" }

frame.OUTPUT_HELP = [[

Existing files: memdbg replaces (atomically) only a file it created itself (it marks
each, the extended attribute user.memdbg); anything else at an output path is refused
(exit 2) before the runtime is asked anything.
  --force              replace any existing regular file (never a link, directory or device)
  --no-clobber         refuse every existing file, memdbg's own too
]]

--- clobber(opts) -> {noClobber=, force=}: the library's options for opts' flags.
function frame.clobber(opts)
  return { noClobber = opts["no-clobber"] or nil, force = opts.force or nil }
end

local JSON_HELP = "  -j, --json           print one JSON document on stdout instead of the report\n"
local TAIL_HELP = [[

  -h, --help           this help
Sizes are in bytes, and in powers of 1024 (KiB, MiB, GiB) where people read them.
]]
local EXIT_HELP = "0 success, 1 found what it looks for (a leak, memory not released,\nan alert), 2 usage error "
  .. "(or the action failed), 3 runtime unreachable or failed.\n"

--- exit_for(code) -> the exit code for an error code: the user's expression
--- or action failing is theirs (2), and so is an output path memdbg must not
--- write (EPATH, EEXIST); everything else is the runtime, a file or the disk (3).
function frame.exit_for(code)
  if code == "EEXCEPTION" or code == "EACTION" or code == "EPATH" or code == "EEXIST" then
    return frame.EXIT_USAGE
  end
  return frame.EXIT_RUNTIME
end

--- print_json(v): one JSON document and a newline on stdout.
function frame.print_json(v)
  io.stdout:write(json.encode(v), "\n")
  io.stdout:flush()
end

--- fail(name, opts, message, code[, exit]) -> exit code: the failure on
--- stderr ("memdbg NAME: message [CODE]") and, with --json, as
--- {"error", "code"} on stdout.
function frame.fail(name, opts, msg, code, exit)
  local text = describe(msg)
  io.stderr:write(string.format("%s: %s%s\n", name, text, code and (" [" .. tostring(code) .. "]") or ""))
  if opts and opts.json then frame.print_json { error = text, code = code and tostring(code) or nil } end
  return exit or frame.exit_for(code)
end

local function usage(name, msg)
  io.stderr:write(string.format("%s: %s\n", name, msg))
  return frame.EXIT_USAGE
end

--- traffic(url) -> a function sending GET url (2 s at most), | nil, message
function frame.traffic(url)
  local endpoint = require("memdbg.transport.endpoint")
  local ep = endpoint.parse(url)
  if not ep or not url:match("^http://") then return nil, "--traffic takes an http://HOST:PORT/PATH URL, not '"
    .. url .. "'" end
  local core = require("memdbg._core")
  local host = endpoint.address(ep.host)
  return function() core.httpGet(host, ep.port, ep.path, 2) end
end

--- connect(opts) -> session | nil, message, code: the command line's
--- --endpoint, --target (a worker or iframe too), --allow-remote, --traffic.
function frame.connect(opts)
  local traffic
  if opts.traffic then traffic = assert(frame.traffic(opts.traffic)) end
  return require("memdbg.transport.isolates").connect {
    endpoint = opts.endpoint or frame.DEFAULT_ENDPOINT,
    allowRemote = opts["allow-remote"] or nil,
    target = opts.target,
    timeout = opts["connect-timeout"],
    traffic = traffic,
  }
end

-- What the command line checks before connecting: a usage error message or nil.
local function check_connect_options(opts)
  local ok, err = require("memdbg.transport.endpoint").parse(opts.endpoint or frame.DEFAULT_ENDPOINT)
  if not ok then return "--endpoint: " .. err end
  local t = opts["connect-timeout"]
  if t and not (t > 0 and t <= frame.MAX_SECONDS) then return "--connect-timeout takes seconds, more than 0 (at most a day)" end
  if opts.traffic then
    local fn, terr = frame.traffic(opts.traffic)
    if not fn then return terr end
  end
end

local function spec_of(def)
  local spec = { json = "flag" }
  if def.connect ~= false then
    for k, v in pairs(frame.CONNECT_OPTIONS) do spec[k] = v end
  end
  if def.writes then
    for k, v in pairs(frame.OUTPUT_OPTIONS) do spec[k] = v end
  end
  for k, v in pairs(def.options or {}) do spec[k] = v end
  return spec
end

--- help_of(def) -> the whole --help text of a command
function frame.help_of(def)
  local h = def.help
  return h .. (def.writes and frame.OUTPUT_HELP or "")
    .. (def.connect ~= false and frame.CONNECT_HELP or "") .. (h:find("%-%-json") and "" or JSON_HELP)
    .. TAIL_HELP .. "Exit codes: " .. (def.exits or EXIT_HELP)
end

-- What these options mean wherever a command or a script has them, checked
-- before anything is asked of the runtime: a usage error message or nil.
local function check_common(spec, opts)
  if spec.timeout and opts.timeout and opts.timeout <= 0 then return "--timeout must be positive" end
  for _, k in ipairs { "duration", "interval" } do
    if spec[k] and opts[k] and opts[k] < 0 then return "--" .. k .. " must be >= 0" end
  end
  -- a wait past a day is a typo (--interval 1e308 never ended its first wait)
  for _, k in ipairs { "timeout", "interval", "duration", "action-timeout" } do
    if spec[k] and opts[k] and opts[k] > frame.MAX_SECONDS then
      return string.format("--%s takes seconds, at most %d (a day), not %s", k, frame.MAX_SECONDS, tostring(opts[k]))
    end
  end
  for _, k in ipairs { "action", "target", "allocate", "cleanup", "prefix" } do
    if spec[k] and opts[k] == "" then return "--" .. k .. " is empty" end
  end
  if spec.dir and opts.dir then
    local ok, err = args.check_output(nil, opts.dir)
    if not ok then return err end
  end
end

-- Runs def.check under pcall: a usage error raised there is a value too.
local function check(def, opts, pos)
  if #pos > 0 and not def.positional then return "unexpected argument '" .. pos[1] .. "'" end
  if def.connect ~= false then
    local msg = check_connect_options(opts)
    if msg then return msg end
  end
  local common = check_common(spec_of(def), opts)
  if common then return common end
  if opts.force and opts["no-clobber"] then return "give --force or --no-clobber, not both" end
  if not def.check then return nil end
  local ok, msg = pcall(def.check, opts, pos)
  if ok then return msg end
  if args.is_usage(msg) then return msg.message end
  error(msg, 0)
end

--- run(def, argv) -> exit code (errors raised by def.run propagate: see protect)
function frame.run(def, argv)
  local name = def.label or ("memdbg " .. def.name)
  local opts, pos = args.parse(argv, spec_of(def))
  if not opts then return usage(name, pos) end
  if opts.help then
    io.stdout:write(frame.help_of(def))
    return frame.EXIT_OK
  end
  local msg = check(def, opts, pos)
  if msg then return usage(name, msg) end
  local files = require("memdbg.util.files")
  local session
  if def.connect == nil or def.connect == true then
    local err, code
    session, err, code = frame.connect(opts)
    if not session then return frame.fail(name, opts, err, code, frame.EXIT_RUNTIME) end
  end
  -- a closure: Lua 5.1's xpcall passes no arguments
  local ok, exit, rmsg, rcode, rexit = xpcall(function() return def.run(session, opts, pos) end,
    debug.traceback)
  if session then session:close() end
  if not ok then
    -- cut short (Ctrl-C, SIGTERM, SIGHUP) or broken: leave no temp dir behind
    files.removeTemporaries()
    error(exit, 0)
  end
  files.forgetTemporaries()
  if exit == nil then return frame.fail(name, opts, rmsg, rcode, rexit) end
  return exit
end

--- protect(name, fn) -> exit code: fn() -> exit code, with an interrupt
--- (130), SIGTERM (143), SIGHUP (129), a usage error (2) or an internal
--- error (70, with the traceback) turned into its exit code and a line on stderr.
function frame.protect(name, fn)
  local ok, code = xpcall(fn, function(e)
    if args.is_usage(e) then return e end
    return debug.traceback(e, 2)
  end)
  if ok then return code or frame.EXIT_OK end
  if args.is_usage(code) then return usage(name, code.message) end
  local text = tostring(code)
  -- Ctrl-C: the lua interpreter raises "interrupted!"; what was being written
  -- has been removed on the way out
  if text:match("interrupted!") then
    io.stderr:write(name, ": interrupted\n")
    return 130
  end
  local sig = text:match("memdbg%-signal: (%u+)")
  if sig then
    io.stderr:write(name, ": stopped by ", sig, "\n")
    return sig == "SIGHUP" and 129 or 143
  end
  io.stderr:write(name, ": internal error: ", text, "\n")
  return frame.EXIT_INTERNAL
end

--- trap_signals(): Ctrl-C, SIGTERM and SIGHUP unwind at once from now on, even in a wait
--- (memdbg._core's trapSignals; a program's choice, never the library's).
function frame.trap_signals()
  local ok, core = pcall(require, "memdbg._core")
  if ok then core.trapSignals() end
end

--- command(def) -> a subcommand module: {name, help, run(argv) -> exit code}
function frame.command(def)
  return { name = def.name, help = frame.help_of(def), def = def,
    run = function(argv) return frame.run(def, argv) end }
end

--- script(def, argv) -> exit code: a workflow script's whole run (def as
--- for command; its name is the script's).
function frame.script(def, argv)
  local name = def.name or (arg and arg[0]) or "script"
  local d = setmetatable({ label = name }, { __index = def })
  frame.trap_signals()
  return frame.protect(name, function() return frame.run(d, argv or {}) end)
end

--- steps() -> fn(what, detail[, where]): "[n] where: what detail" lines on
--- stderr for a multi-step workflow, when stderr is a terminal (as the
--- progress bars: --json or not, they never touch stdout).
function frame.steps()
  local format = require("memdbg.util.format")
  local n = 0
  return function(what, detail, where)
    if not format.isatty() then return end
    n = n + 1
    io.stderr:write(string.format("[%d] %s%s %s\n", n, where and (where .. ": ") or "", tostring(what),
      detail ~= nil and tostring(detail) or ""))
  end
end

return frame
