-- memdbg snapshot: stream a heap snapshot to a file.
local frame = require("memdbg.cli.frame")
local args = require("memdbg.cli.args")
local format = require("memdbg.util.format")
local workflow = require("memdbg.workflows.snapshot")

return frame.command {
  name = "snapshot",
  help = [=[
usage: memdbg snapshot [-e URL] [-o FILE | --dir DIR [--prefix NAME]] [--force | --no-clobber] [--gc]
                       [--timeout S] [--keep-partial] [--json]
Streams a heap snapshot to FILE (default DIR/NAME-<UTC time>.heapsnapshot, DIR
defaults to ., NAME to heap). The data goes to a new private file (mode 0600)
that becomes FILE only when the runtime has sent all of it, replacing atomically
an existing FILE memdbg wrote; an existing file memdbg did not create (unless
--force), a directory, a symbolic link, a FIFO, a socket or a device at FILE is
refused at once (exit 2), before the runtime is asked anything.
  -o, --out FILE       where the snapshot goes
  --dir DIR            a new timestamped file in DIR (made 0700 when missing)
  --prefix NAME        the file name's prefix in DIR (default heap)
  --gc                 collect garbage first
  --timeout S          fail when nothing arrives for S seconds (default 30)
  --keep-partial       keep what arrived as FILE.partial when the snapshot fails
  --json               {"path", "bytes", "seconds", "chunks"}
]=],
  options = { out = "string", dir = "string", gc = "flag", timeout = { "number", 30 }, ["keep-partial"] = "flag",
    prefix = "string" },
  writes = true,
  check = function(opts)
    if opts.out and opts.dir then return "give --out or --dir, not both" end
    if opts.out and opts.prefix then return "--prefix names files in --dir, not --out" end
    if opts.timeout <= 0 then return "--timeout must be positive" end
    local ok, err = args.check_output(opts.out, opts.dir, frame.clobber(opts))
    if not ok then return err end
  end,
  run = function(session, opts)
    local bar = format.progress("snapshot")
    local info, err, code = workflow.run(session, {
      path = opts.out, dir = opts.dir, prefix = opts.prefix, gc = opts.gc, timeout = opts.timeout,
      keepPartial = opts["keep-partial"], noClobber = opts["no-clobber"], force = opts.force,
      onProgress = bar.callback, onBytes = function(bytes) bar:update(bytes) end,
    })
    bar.finish()
    if not info then return nil, err, code end
    if opts.json then
      frame.print_json { path = info.path, bytes = info.bytes, seconds = info.seconds, chunks = info.chunks }
    else
      print(string.format("Wrote %s (%s in %.1f s)", info.path, format.bytes(info.bytes), info.seconds))
    end
    return 0
  end,
}
