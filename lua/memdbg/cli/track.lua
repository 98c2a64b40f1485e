-- memdbg track: track allocations and save the timeline snapshot.
local common = require("memdbg.workflows.common")
local workflow = require("memdbg.workflows.track_allocations")
local profile = require("memdbg.analysis.profile")
local M = {}

M.help = [[
usage: memdbg track [--endpoint URL] [--duration S | --action EXPR] [--out FILE | --dir DIR]
                    [--top N] [--timeout S] [--json]
Tracks heap allocations with their stacks for S seconds (default 10) or around
a JavaScript expression, then streams the timeline snapshot (with trace_tree;
open it in DevTools' Memory panel) to FILE (default DIR/track-<time>.heapsnapshot)
and prints the top allocation sites.
]]

function M.run(argv)
  return common.command({
    name = "track", help = M.help,
    options = { duration = "number", action = "string", out = "string", dir = "string", top = { "count", 20 },
      timeout = { "number", 30 } },
    check = function(opts)
      local args = require("memdbg.cli.args")
      if opts.duration and opts.action then args.usage_error("give --duration or --action, not both") end
      if opts.out and opts.dir then args.usage_error("give --out or --dir, not both") end
      args.check_output(opts.out, opts.dir)
    end,
    run = function(session, opts)
      local tick, tickDone = common.progress("tracking", not opts.json)
      local update, finish = common.progress("timeline snapshot", not opts.json)
      local r, err, code = workflow.run(session, { duration = opts.duration, action = opts.action, path = opts.out,
        dir = opts.dir, top = opts.top, timeout = opts.timeout,
        onTick = function(elapsed, total) tick(elapsed, total) end,
        onProgress = function(d, t) tickDone() update(d, t) end, onBytes = function(b) update(b) end })
      tickDone()
      finish()
      if not r then return nil, err, code end
      if opts.json then
        local sites = common.array()
        for i, s in ipairs(r.sites or {}) do
          sites[i] = { functionName = s.functionName, url = s.url, line = s.line, count = s.count,
            selfSize = s.self, totalSize = s.total }
        end
        common.print_json { path = r.path, bytes = r.bytes, seconds = r.seconds, sites = sites }
      else
        print(string.format("Wrote %s (%s in %.1f s)", r.path, common.bytes(r.bytes), r.seconds))
        if r.sites then io.write(profile.format_sites(r.sites)) else print("No allocation sites: " .. tostring(r.sitesError)) end
      end
      return 0
    end,
  }, argv)
end

return M
