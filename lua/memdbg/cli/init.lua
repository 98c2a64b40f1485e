-- The `memdbg` command line: dispatches `memdbg SUBCOMMAND ...` to the module
-- memdbg.cli.<name> (a frame.command: run(argv) -> exit code, help).
--   memdbg --help | memdbg help [COMMAND] | memdbg --version
-- Exit codes are the frame's (memdbg.cli.frame).
local frame = require("memdbg.cli.frame")

local cli = {}

-- name -> { module, one-line summary }; the order is the order of --help.
cli.commands = {
  { "targets", "memdbg.cli.targets", "list the inspector targets at an endpoint" },
  { "usage", "memdbg.cli.usage", "print heap usage" },
  { "gc", "memdbg.cli.gc", "collect garbage" },
  { "snapshot", "memdbg.cli.snapshot", "stream a heap snapshot to a file" },
  { "monitor", "memdbg.cli.monitor", "sample heap usage over time, alert on a threshold" },
  { "sample", "memdbg.cli.sample", "run the sampling heap profiler" },
  { "track", "memdbg.cli.track", "track allocations and save the timeline snapshot" },
  { "leaks", "memdbg.cli.leaks", "three-snapshot leak hunt around an action" },
  { "verify", "memdbg.cli.verify", "check that memory is released after cleanup" },
  { "summary", "memdbg.cli.summary", "summarise a snapshot file by class" },
  { "diff", "memdbg.cli.diff", "compare two snapshot files of one process" },
  { "retainers", "memdbg.cli.retainers", "retainer path of a node in a snapshot file" },
  { "top", "memdbg.cli.top", "largest objects by retained size in a snapshot file" },
  { "instances", "memdbg.cli.instances", "every object of a class in a snapshot file, and why it is alive" },
  { "find-leaks", "memdbg.cli.find_leaks", "leak groups from three snapshot files" },
}

local function usage(out)
  out:write("usage: memdbg COMMAND [options]   (memdbg help COMMAND, or memdbg COMMAND --help: its options)\n"
    .. "       memdbg --version\n\ncommands:\n")
  for _, c in ipairs(cli.commands) do
    out:write(string.format("  %-11s %s\n", c[1], c[3]))
  end
end

local function find(name)
  for _, c in ipairs(cli.commands) do
    if c[1] == name then return c end
  end
end

--- load(name) -> the subcommand's module | nil, message
function cli.load(name)
  local c = find(name)
  if not c then return nil, "unknown command '" .. tostring(name) .. "'" end
  local ok, mod = pcall(require, c[2])
  if not ok then return nil, "'" .. name .. "' is not available in this build: " .. tostring(mod) end
  return mod
end

local function version()
  local ok, memdbg = pcall(require, "memdbg")
  io.stdout:write(ok and memdbg._VERSION or "memdbg", " (", _VERSION, jit and (", " .. jit.version) or "", ")\n")
  return frame.EXIT_OK
end

local function help(name)
  if name == nil then
    usage(io.stdout)
    return frame.EXIT_OK
  end
  local mod, err = cli.load(name)
  if not mod then
    io.stderr:write("memdbg help: ", err, "\n")
    usage(io.stderr)
    return frame.EXIT_USAGE
  end
  io.stdout:write(mod.help)
  return frame.EXIT_OK
end

--- main(argv) -> exit code
function cli.main(argv)
  local name = argv[1]
  if name == nil then
    usage(io.stderr)
    return frame.EXIT_USAGE
  end
  if name == "--help" or name == "-h" then return help(nil) end
  if name == "help" then return help(argv[2]) end
  if name == "--version" or name == "-V" then return version() end
  local mod, err = cli.load(name)
  if not mod then
    io.stderr:write("memdbg: ", err, "\n")
    if not find(name) then usage(io.stderr) end
    return frame.EXIT_USAGE
  end
  local rest = {}
  for i = 2, #argv do rest[#rest + 1] = argv[i] end
  frame.trap_signals()
  return frame.protect("memdbg " .. name, function() return mod.run(rest) end)
end

return cli
