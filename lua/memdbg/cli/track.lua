-- memdbg track: track allocations and save the timeline snapshot.
local frame = require("memdbg.cli.frame")
local args = require("memdbg.cli.args")
local format = require("memdbg.util.format")
local json = require("memdbg.util.json")
local workflow = require("memdbg.workflows.track_allocations")

return frame.command {
  name = "track",
  help = [[
usage: memdbg track [-e URL] [--duration S | --action EXPR] [-o FILE | --dir DIR]
                    [--force | --no-clobber] [--top N] [--timeout S] [--json]
Tracks heap allocations with their stacks for S seconds (default 10) or around
a JavaScript expression, then streams the timeline snapshot (with trace_tree;
open it in DevTools' Memory panel) to FILE (default DIR/track-<time>.heapsnapshot)
and prints the top allocation sites: per function, what it allocated (objects
and bytes while it was the top frame, bytes with its callees) and what of that
is still alive in the snapshot, with its url:line:column.
  --duration S         how long to track (default 10)
  --action EXPR        track around this expression instead (awaiting a promise)
  -o, --out FILE       where the timeline snapshot goes
  --dir DIR            a new timestamped file in DIR
  --top N              how many sites to print (default 20)
  --timeout S          fail when the snapshot stalls for S seconds (default 30)
  --json               {"path", "bytes", "seconds", "sites": [{"functionName", "url", "line", "column",
                       "count", "selfSize", "totalSize", "liveCount", "liveSize"}]} (bytes; line and
                       column 1-based, absent when unknown)
]],
  options = { duration = "number", action = "string", out = "string", dir = "string", top = { "count", 20 },
    timeout = { "number", 30 } },
  writes = true,
  check = function(opts)
    if opts.duration and opts.action then return "give --duration or --action, not both" end
    if opts.duration and opts.duration <= 0 then return "--duration must be positive" end
    if opts.out and opts.dir then return "give --out or --dir, not both" end
    local ok, err = args.check_output(opts.out, opts.dir, frame.clobber(opts))
    if not ok then return err end
  end,
  run = function(session, opts)
    local tick = format.progress("tracking")
    local bar = format.progress("timeline snapshot")
    local r, err, code = workflow.run(session, { duration = opts.duration, action = opts.action, path = opts.out,
      dir = opts.dir, top = opts.top, timeout = opts.timeout, noClobber = opts["no-clobber"], force = opts.force,
      onTick = function(elapsed, total) tick:update(elapsed, total) end,
      onProgress = function(d, t)
        tick.finish()
        bar:update(d, t)
      end,
      onBytes = function(b) bar:update(b) end })
    tick.finish()
    bar.finish()
    if not r then return nil, err, code end
    if opts.json then
      local sites = json.array()
      for i, s in ipairs(r.sites or {}) do
        sites[i] = { functionName = s.functionName, url = s.url, line = s.line, column = s.column, count = s.count,
          selfSize = s.self, totalSize = s.total, liveCount = s.liveCount, liveSize = s.liveSize }
      end
      frame.print_json { path = r.path, bytes = r.bytes, seconds = r.seconds, sites = sites }
    else
      print(string.format("Wrote %s (%s in %.1f s)", r.path, format.bytes(r.bytes), r.seconds))
      if r.sites then
        io.write(workflow.format_sites(r.sites))
      else
        print("No allocation sites: " .. tostring(r.sitesError))
      end
    end
    return 0
  end,
}
