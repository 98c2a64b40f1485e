-- memdbg snapshot: stream a heap snapshot to a file.
local common = require("memdbg.workflows.common")
local workflow = require("memdbg.workflows.snapshot")
local M = {}

M.help = [[
usage: memdbg snapshot [--endpoint URL] [--out FILE | --dir DIR] [--no-clobber] [--gc] [--timeout S]
                       [--keep-partial] [--json]
Streams a heap snapshot to FILE (default DIR/heap-<UTC time>.heapsnapshot, DIR
defaults to .). The data goes to a new private file (mode 0600) that becomes
FILE only when the runtime has sent all of it; an existing regular FILE is
then replaced atomically. A directory, a symbolic link, a FIFO, a socket or a
device at FILE is refused at once (exit 2), before the runtime is asked anything.
  --no-clobber    refuse (exit 2) when FILE exists
  --gc            collect garbage first
  --timeout S     fail when nothing arrives for S seconds (default 30)
  --keep-partial  keep what arrived as FILE.partial when the snapshot fails
]]

function M.run(argv)
  return common.command({
    name = "snapshot", help = M.help,
    options = { out = "string", dir = "string", gc = "flag", timeout = { "number", 30 }, ["keep-partial"] = "flag",
      prefix = "string", ["no-clobber"] = "flag" },
    check = function(opts)
      local args = require("memdbg.cli.args")
      if opts.out and opts.dir then args.usage_error("give --out or --dir, not both") end
      if opts.timeout <= 0 then args.usage_error("--timeout must be positive") end
      args.check_output(opts.out, opts.dir, opts["no-clobber"])
    end,
    run = function(session, opts)
      local update, finish = common.progress("snapshot", not opts.json)
      local info, err, code = workflow.run(session, {
        path = opts.out, dir = opts.dir, prefix = opts.prefix, gc = opts.gc, timeout = opts.timeout,
        keepPartial = opts["keep-partial"], noClobber = opts["no-clobber"],
        onProgress = function(done, total) update(done, total) end,
        onBytes = function(bytes) update(bytes) end,
      })
      finish()
      if not info then return nil, err, code end
      if opts.json then
        common.print_json { path = info.path, bytes = info.bytes, seconds = info.seconds, chunks = info.chunks }
      else
        print(string.format("Wrote %s (%s in %.1f s)", info.path, common.bytes(info.bytes), info.seconds))
      end
      return 0
    end,
  }, argv)
end

return M
