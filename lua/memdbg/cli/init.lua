-- The `memdbg` command line: dispatches `memdbg SUBCOMMAND ...` to the module
-- memdbg.cli.<name>, whose run(args) returns the exit code.
-- Exit codes: 0 success, 1 found what was looked for (a leak, memory not
-- released), 2 usage error, 3 runtime unreachable (or file unreadable).
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
  out:write("usage: memdbg COMMAND [options]   (memdbg COMMAND --help for its options)\n\ncommands:\n")
  for _, c in ipairs(cli.commands) do
    out:write(string.format("  %-11s %s\n", c[1], c[3]))
  end
end

function cli.main(argv)
  local name = argv[1]
  if name == nil or name == "--help" or name == "-h" or name == "help" then
    usage(io.stdout)
    return name and 0 or 2
  end
  for _, c in ipairs(cli.commands) do
    if c[1] == name then
      local ok, mod = pcall(require, c[2])
      if not ok then
        io.stderr:write("memdbg: '" .. name .. "' is not available in this build: " .. tostring(mod) .. "\n")
        return 2
      end
      local rest = {}
      for i = 2, #argv do rest[#rest + 1] = argv[i] end
      local args = require("memdbg.cli.args")
      -- SIGTERM and SIGHUP unwind like Ctrl-C (memdbg._core's trapSignals)
      local okcore, core = pcall(require, "memdbg._core")
      if okcore then core.trapSignals() end
      -- a closure: Lua 5.1's xpcall passes no arguments
      local okrun, code = xpcall(function() return mod.run(rest) end, debug.traceback)
      if not okrun then
        -- Ctrl-C: the lua interpreter raises "interrupted!"; what was being
        -- written has been removed on the way out
        if type(code) == "string" and code:match("interrupted!") then
          io.stderr:write("memdbg " .. name .. ": interrupted\n")
          return 130
        end
        local sig = type(code) == "string" and code:match("memdbg%-signal: (%u+)")
        if sig then
          io.stderr:write("memdbg " .. name .. ": stopped by " .. sig .. "\n")
          return sig == "SIGHUP" and 129 or 143
        end
        if type(code) == "string" and code:match(args.USAGE_MARK) then
          io.stderr:write("memdbg " .. name .. ": " .. code:match(args.USAGE_MARK .. "(.-)\n") .. "\n")
          return 2
        end
        io.stderr:write("memdbg " .. name .. ": internal error: " .. tostring(code) .. "\n")
        return 70
      end
      return code or 0
    end
  end
  io.stderr:write("memdbg: unknown command '" .. tostring(name) .. "'\n")
  usage(io.stderr)
  return 2
end

return cli
