-- luacheck: globals vim
-- The operations on a runtime, each a driver task: usage, snapshot, leaks,
-- sample, track, verify, monitor. Options arrive resolved (endpoint and
-- connection settings filled in by memdbg.nvim from setup{} and g:memdbg_*).
local driver = require("memdbg.nvim.driver")
local job = require("memdbg.nvim.job")
local action = require("memdbg.nvim.action")

local M = {}

local uv = vim.uv or vim.loop
local deliver = driver.deliver

function M.usage(opts, callback)
  return driver.start("usage", opts, callback, function(session)
    return session.memory:getHeapUsage()
  end)
end

local function default_snapshot_path(dir, prefix)
  local stamp = os.date("!%Y%m%d-%H%M%S") .. string.format("-%03d", math.floor((uv.hrtime() / 1e6) % 1000))
  return string.format("%s/%s-%s.heapsnapshot", dir or vim.fn.getcwd(), prefix or "heap", stamp)
end
M.default_snapshot_path = default_snapshot_path

function M.snapshot(opts, callback)
  local path = opts.path or default_snapshot_path(opts.dir)
  local task
  task = driver.start("snapshot", opts, callback, function(session)
    if opts.gc then
      local ok, err, code = session.memory:collectGarbage()
      if not ok then return nil, err, code end
    end
    local info, err, code = session.memory:takeHeapSnapshot {
      path = path,
      noClobber = opts.noClobber,
      force = opts.force,
      timeout = opts.timeout,
      onProgress = deliver(task, opts.onProgress),
      onBytes = deliver(task, opts.onBytes),
    }
    if not info then return nil, err, code end
    task.created = info.path -- memdbg made this file: a cancel may remove it
    info.result = nil
    return info
  end)
  task.path = path
  task.cleanup = function(t)
    -- A failed snapshot leaves nothing (the sink's file was never linked in);
    -- a drained (cancelled) one may have completed: remove only that file,
    -- never what was at the path before (docs/files.md).
    if t.cancelled and t.created then os.remove(t.created) end
  end
  return task
end

local function remove_tree(dir)
  driver.main_loop(function() vim.fn.delete(dir, "rf") end)
end

-- The sampling leak hunt (no snapshots: live sampled bytes per allocation
-- site after GC at baseline and after each action; the analysis is the
-- workflow's own, small, so it runs in the task).
local function sampling_hunt(opts, callback, act)
  local task, step
  task = driver.start("leak hunt", opts, callback, function(session)
    local detect_leak = require("memdbg.workflows.detect_leak")
    local wopts = { sampling = true, samplingInterval = opts.samplingInterval, noGC = opts.noGC,
      analyse = false, -- a workflow without the sampling hunt must not parse snapshots here
      onStep = step }
    for k, v in pairs(act.workflow(session, task)) do wopts[k] = v end
    local r = { pcall(detect_leak.run, session, wopts) }
    if not r[1] then error(r[2], 0) end
    local report, err, code = r[2], r[3], r[4]
    if report and report.mode ~= "sampling" then
      if report.dir then require("memdbg.nvim.driver").main_loop(function() vim.fn.delete(report.dir, "rf") end) end
      return nil, "this memdbg's leak workflow has no sampling hunt (leaks --sampling)", "EUNSUPPORTED"
    end
    if not report then return nil, err, code end
    return report
  end)
  step = deliver(task, opts.onStep, true)
  return task
end

--- read_ignore(path) -> set of signatures | nil, message: the gate's ignore
--- file (workflows/leak_gate.lua); anything but a regular file is refused
--- before it is opened (a FIFO would block the editor in open()).
function M.read_ignore(path)
  local st = uv.fs_stat(path)
  if not st then return nil, "cannot read the ignore file: " .. path .. ": No such file or directory" end
  if st.type ~= "file" then return nil, string.format("the ignore file %s is a %s, not a regular file", path, st.type) end
  return require("memdbg.workflows.leak_gate").load_ignore(path)
end

-- The CI gate's options, as the CLI's --ignore FILE and --max-growth N
-- (workflows/leak_gate.lua): the ignore file is read now, so a mistake is an
-- error before anything runs. Returns the gate's options or nil.
local function gate_options(opts, who)
  if opts.ignore == nil and opts.maxGrowth == nil then return nil end
  if opts.sampling then
    error(who .. ": ignore and maxGrowth gate the snapshot hunt's leak groups, not sampling", 3)
  end
  local m = opts.maxGrowth
  if m ~= nil and not (type(m) == "number" and m >= 0 and m < 2 ^ 53) then
    error(who .. ": maxGrowth takes a number of objects, 0 or more", 3)
  end
  local set
  if opts.ignore ~= nil then
    if type(opts.ignore) ~= "string" or opts.ignore == "" then
      error(who .. ": ignore takes a file (a previous `memdbg leaks --json` output or signatures, one a line)", 3)
    end
    local err
    set, err = M.read_ignore(opts.ignore)
    if not set then error(who .. ": ignore: " .. err, 3) end
  end
  return { ignore = set, maxGrowth = m }
end

-- The groups as `memdbg leaks` reports them: runtime-internal ones below the
-- rest (workflows/leak_noise.lua), each marked by the gate (ignored,
-- belowMaxGrowth; report.newLeaks counts the rest), then the first `top`.
local function judge(report, leaks, gate, top)
  require("memdbg.workflows.leak_noise").demote(leaks)
  report.leaks = leaks
  require("memdbg.workflows.leak_gate").apply(report, gate or {})
  if top and top > 0 then
    report.total = #leaks
    for i = #leaks, top + 1, -1 do leaks[i] = nil end
  end
end

function M.leaks(opts, callback)
  local act = action.resolve(opts, "memdbg.nvim.leaks")
  local gate = gate_options(opts, "memdbg.nvim.leaks")
  if opts.sampling then return sampling_hunt(opts, callback, act) end
  local own_dir = opts.dir == nil
  local dir = opts.dir
  if dir then
    vim.fn.mkdir(dir, "p", tonumber("700", 8))
  else
    -- not under vim.fn.tempname(): Neovim removes that directory when it exits
    local base = (os.getenv("TMPDIR") or "/tmp") .. "/memdbg-leaks-XXXXXX"
    local err
    dir, err = uv.fs_mkdtemp(base)
    if not dir then error("memdbg.nvim.leaks: cannot create a directory like " .. base .. ": " .. tostring(err), 3) end
  end
  local task, step, analyse_progress
  task = driver.start("leak hunt", opts, callback, function(session)
    local detect_leak = require("memdbg.workflows.detect_leak")
    local wopts = {
      dir = dir,
      gcRounds = opts.gcRounds,
      timeout = opts.timeout,
      trackAllocations = opts.trackAllocations, -- groups get allocationStack
      analyse = false,
      onStep = step,
      onProgress = deliver(task, opts.onProgress),
      onBytes = deliver(task, opts.onBytes),
    }
    for k, v in pairs(act.workflow(session, task)) do wopts[k] = v end
    local report, err, code = detect_leak.run(session, wopts)
    if not report then return nil, err, code end
    return report
  end, function(t, report)
    -- capture done, session closed: the parse runs in a child process
    if step then step("analyse") end
    driver.main_loop(function()
      if t.finished then return end
      local s = report.snapshots
      -- every group: the gate and the runtime-internal rules see them all, as the CLI's do
      t.child = job.run("leak analysis", { "find-leaks", s[1], s[2], s[3], "--top", "0" },
        { analyser = opts.analyser, ok = { 0, 1 }, onProgress = analyse_progress },
        function(doc, err, code)
          t.job = nil
          if t.finished then return end
          if not doc or type(doc.leaks) ~= "table" then
            return driver.finish(t, nil, err or "the leak analysis gave no leaks array", code or "EANALYSE")
          end
          judge(report, doc.leaks, gate, opts.top or 20)
          if gate then report.ignoreFile, report.maxGrowth = opts.ignore, opts.maxGrowth end
          -- as the CLI does: a temporary directory goes when nothing (new) leaked
          if own_dir and report.newLeaks == 0 then
            remove_tree(dir)
            report.removed = true
          end
          driver.finish(t, report)
        end)
      t.job = t.child.id
    end)
  end)
  step = deliver(task, opts.onStep, true)
  analyse_progress = deliver(task, opts.onAnalyseProgress)
  task.dir = dir
  task.cleanup = function(t, _, err)
    if t.child and not t.child.reported then t.child:cancel() end
    if (err or t.cancelled) and own_dir then remove_tree(dir) end
  end
  return task
end

-- A duration loop of sampling and tracking calls onTick(elapsed, total).
local function has_action(opts) return opts.action ~= nil or opts.actionCommand ~= nil or opts.actionHttp ~= nil end

function M.sample(opts, callback)
  local act = has_action(opts) and action.resolve(opts, "memdbg.nvim.sample") or nil
  local task
  task = driver.start("sampling", opts, callback, function(session)
    local sample = require("memdbg.workflows.sample_profile")
    local r, err, code = sample.run(session, {
      duration = opts.seconds,
      action = act and act.fn(session, task) or nil,
      interval = opts.interval,
      top = opts.top,
      includeCollected = opts.includeCollected,
      onTick = deliver(task, opts.onTick),
    })
    if not r then return nil, err, code end
    r.profile = nil -- large, and the callback crosses vim.schedule
    return r
  end)
  return task
end

function M.track(opts, callback)
  local act = has_action(opts) and action.resolve(opts, "memdbg.nvim.track") or nil
  local path = opts.path or default_snapshot_path(opts.dir, "track")
  local task
  task = driver.start("tracking", opts, callback, function(session)
    local track = require("memdbg.workflows.track_allocations")
    local r, err, code = track.run(session, {
      duration = opts.seconds,
      action = act and act.fn(session, task) or nil,
      path = path,
      noClobber = opts.noClobber,
      force = opts.force,
      top = opts.top,
      timeout = opts.timeout,
      sites = false, -- read back in a child process: ~1 s for 100 MB
      onTick = deliver(task, opts.onTick),
      onProgress = deliver(task, opts.onProgress),
      onBytes = deliver(task, opts.onBytes),
    })
    if not r then return nil, err, code end
    task.created = r.path
    r.result = nil
    return r
  end, function(t, r)
    driver.main_loop(function()
      if t.finished then return end
      if opts.onProgress then opts.onProgress(1, 1) end
      t.child = job.lua("allocation sites", "tracking_sites", { r.path, opts.top or 20 }, {}, function(doc, err)
        if t.finished then return end
        if doc then r.sites = doc.sites else r.sitesError = err end
        driver.finish(t, r)
      end)
    end)
  end)
  task.path = path
  task.cleanup = function(t)
    if t.child and not t.child.reported then t.child:cancel() end
    if t.cancelled and t.created then os.remove(t.created) end -- only what memdbg made
  end
  return task
end

function M.verify(opts, callback)
  for _, k in ipairs({ "allocate", "cleanup" }) do
    if type(opts[k]) ~= "string" or opts[k] == "" then
      error("memdbg.nvim.verify: " .. k .. " must be a JavaScript expression", 3)
    end
  end
  return driver.start("verify", opts, callback, function(session)
    return require("memdbg.workflows.verify_cleanup").run(session, {
      allocate = opts.allocate, cleanup = opts.cleanup, gcRounds = opts.gcRounds,
      tolerance = opts.tolerance,
    })
  end)
end

--- monitor: heap usage every opts.interval seconds until cancelled (or
--- opts.count samples), alerting above opts.threshold percent (90); opts.onSample(sample) for each, sample = {t, usedSize,
--- totalSize, ratio, alert}; the callback gets {samples, alerts, peak}.
function M.monitor(opts, callback)
  local task
  task = driver.start("monitor", opts, callback, function(session)
    local monitor = require("memdbg.workflows.monitor")
    local r, err, code = monitor.run(session, {
      interval = opts.interval or 1,
      count = opts.count or math.huge,
      threshold = (opts.threshold or 90) / 100,
      print = false,
      onSample = deliver(task, opts.onSample, true),
      onAlert = deliver(task, opts.onAlert or function() end, true),
    })
    if not r then return nil, err, code end
    return r
  end)
  return task
end

return M
