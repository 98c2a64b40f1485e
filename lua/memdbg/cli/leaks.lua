-- memdbg leaks: three-snapshot leak hunt around an action.
local frame = require("memdbg.cli.frame")
local format = require("memdbg.util.format")
local workflow = require("memdbg.workflows.detect_leak")
local leak_actions = require("memdbg.cli.leak_actions")
local M = {}

M.help = [[
usage: memdbg leaks (--action EXPR | --action-cmd CMD | --action-http URL | --duration S)
                    [--all] [--ignore FILE] [--max-growth N] [--sampling] [--endpoint URL] [--dir DIR]
                    [--gc-rounds N] [--top N] [--timeout S] [--track-allocations] [--keep] [--json]
GC and baseline snapshot; run the action (evaluate EXPR in the target, awaiting
a promise; run CMD; send the HTTP requests); GC and target snapshot; the action
again; GC and final snapshot. Objects that the first run of the action left alive and the second one grew are grouped by what
holds them (the nearest object the baseline already had: a Map, a listener
list, a timer list) and by class, the program's own classes first: each
group names its class, where its constructor is (file:line:column), its
holder with the holder's edges in the three snapshots and how the holder is
reached from a GC root. --track-allocations also tracks allocations from the
baseline to the final snapshot and shows where each group's objects were
allocated. Classes each run left objects of are listed too ("grown" in
--json). Snapshots go to DIR (default a new private temp dir, kept when leaks
are found or with --keep). Exits 1 when it finds a leak (a new one, with --ignore).
--all hunts in every isolate at once (the main thread or page and each worker
and out-of-process iframe): each takes its own snapshots, the action runs once
(in the main target) between them, and each is reported under its own heading
(--json: {"isolates": [{id, type, title, url, main, leaks, ...}], "actions"});
exits 3 when no isolate leaked but one's hunt failed.
]] .. leak_actions.help

M.def = {
  name = "leaks", help = M.help,
  -- --gc-rounds and --timeout get their defaults in check, which must see whether they were given
  options = leak_actions.with_options { dir = "string", ["gc-rounds"] = "count", top = { "count", 10 },
    timeout = "number", keep = "flag", all = "flag",
    ["track-allocations"] = "flag" },
  check = function(opts)
    local args = require("memdbg.cli.args")
    local msg = leak_actions.check(opts)
    if msg then return msg end
    if opts.sampling then
      -- the snapshot hunt's options: --sampling takes no snapshot, so they would do nothing
      for _, k in ipairs { "track-allocations", "dir", "keep", "gc-rounds", "timeout" } do
        if opts[k] ~= nil then
          args.usage_error("--" .. k .. " goes with the snapshot hunt, not --sampling (which takes no snapshot"
            .. (k == "gc-rounds" and "; it forces one GC a step, none with --no-gc)" or ")"))
        end
      end
    end
    opts["gc-rounds"] = opts["gc-rounds"] or 2
    opts.timeout = opts.timeout or 30
    if opts["gc-rounds"] < 1 then args.usage_error("--gc-rounds must be at least 1") end
  end,
  run = function(session, opts)
    if opts.all then return require("memdbg.cli.leaks_all").run(session, opts) end
    if opts.sampling then return leak_actions.run_sampling(session, opts) end
    local bar = format.progress("", { enabled = false })
    local say = frame.steps()
    local w = leak_actions.workflow(opts) -- the action and its options
    w.dir, w.gcRounds, w.timeout, w.trackAllocations = opts.dir, opts["gc-rounds"], opts.timeout,
      opts["track-allocations"]
    local report, err, code, partial = workflow.run(session, setmetatable({
      onStep = function(what, detail)
        bar.finish()
        say(what, detail)
        if what == "snapshot" then bar = format.progress(detail .. " snapshot") end
      end,
      onProgress = function(d, t) bar:update(d, t) end,
      onBytes = function(b) bar:update(b) end,
    }, { __index = w }))
    bar.finish()
    if not report then
      -- a failed hunt leaves nothing behind in a temp dir of its own
      if partial and partial.dir and not opts.dir and not opts.keep then
        for _, p in ipairs(partial.snapshots or {}) do os.remove(p) end
        os.remove(partial.dir)
      end
      return nil, err, code
    end
    local found = leak_actions.gate(report, opts) > 0
    local remove = not found and not opts.keep and not opts.dir
    if opts.json then
      local json = require("memdbg.util.json")
      for _, g in ipairs(report.leaks) do
        if g.location == nil then g.location = json.null end
      end
      frame.print_json { snapshots = report.snapshots, leaks = report.leaks, detached = report.detached,
        grown = report.grown, actions = report.actions, newLeaks = report.newLeaks }
    else
      io.write(workflow.format(report, opts.top))
      io.write(leak_actions.format(report, opts))
      if remove then
        print(string.format("(the snapshots were removed as nothing %sleaked; --keep keeps them)",
          #report.leaks > 0 and "new " or ""))
      end
    end
    if remove then
      for _, p in ipairs(report.snapshots) do os.remove(p) end
      os.remove(report.dir)
    end
    return found and 1 or 0
  end,
}

return frame.command(M.def)
