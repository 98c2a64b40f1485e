-- memdbg leaks --all: the hunt on every isolate (the main thread or page and
-- each worker and out-of-process iframe) around one action, reported per
-- isolate (workflows/leaks_all.lua). Exit 1 when any isolate leaks, else 3
-- when an isolate's hunt failed, else 0.
local frame = require("memdbg.cli.frame")
local format = require("memdbg.util.format")
local json = require("memdbg.util.json")
local files = require("memdbg.util.files")
local leaks_all = require("memdbg.workflows.leaks_all")
local detect_leak = require("memdbg.workflows.detect_leak")
local sampling_leak = require("memdbg.workflows.sampling_leak")
local leak_actions = require("memdbg.cli.leak_actions")

local M = {}

local function heading(e)
  local name = e.main and "main" or e.type
  local title = e.title ~= "" and e.title or e.url
  return string.format("== %s %s %q ==\n", name, tostring(e.id), tostring(title))
end

local function remove_snapshots(r)
  for _, p in ipairs(r.snapshots or {}) do os.remove(p) end
  if r.dir then os.remove(r.dir) end
end

-- What one isolate's hunt found: the number of groups (or sites) that count.
local function found(e, opts)
  if not e.report then return 0 end
  if opts.sampling then return sampling_leak.found(e.report) end
  return leak_actions.gate(e.report, opts)
end

local function json_entry(e, opts)
  local out = { id = e.id, type = e.type, title = e.title, url = e.url, main = e.main or false }
  local r = e.report
  if not r then
    out.error, out.code = tostring(e.error), e.code and tostring(e.code) or nil
  elseif opts.sampling then
    for k, v in pairs(sampling_leak.to_json(r, opts.top)) do if k ~= "actions" then out[k] = v end end
  else
    for _, g in ipairs(r.leaks) do
      if g.location == nil then g.location = json.null end
    end
    out.snapshots, out.leaks, out.detached, out.grown, out.newLeaks = r.snapshots, r.leaks, r.detached, r.grown,
      r.newLeaks
  end
  return out
end

function M.run(session, opts)
  local w = leak_actions.workflow(opts)
  w.gcRounds, w.timeout, w.trackAllocations = opts["gc-rounds"], opts.timeout, opts["track-allocations"]
  -- one directory for the whole hunt, a subdirectory per isolate
  local own = not opts.dir
  if own then
    local err, code
    w.dir, err, code = files.tempdir("memdbg-leaks")
    if not w.dir then return nil, err, code end
  else
    w.dir = opts.dir
  end
  local bar = format.progress("", { enabled = false })
  local say = frame.steps()
  w.onStep = function(what, detail, iso)
    bar.finish()
    say(what, detail, leaks_all.label(iso))
    if what == "snapshot" then
      bar = format.progress(leaks_all.label(iso) .. " " .. detail .. " snapshot")
    end
  end
  w.onProgress = function(d, t) bar:update(d, t) end
  w.onBytes = function(b) bar:update(b) end
  local report, err, code, partial = leaks_all.run(session, w)
  bar.finish()
  local entries = report and report.isolates or (partial and partial.isolates) or {}
  if not report then
    if own and not opts.keep then
      for _, e in ipairs(entries) do remove_snapshots(e.report or e.partial or {}) end
      os.remove(w.dir)
    end
    return nil, err, code
  end
  local leaking, failed = 0, 0
  for _, e in ipairs(entries) do
    e.found = found(e, opts)
    if e.found > 0 then leaking = leaking + 1 end
    if not e.report then failed = failed + 1 end
  end
  if report.note then io.stderr:write("memdbg leaks --all: only the main isolate: ", report.note, "\n") end
  if opts.json then
    local out = json.array()
    for i, e in ipairs(entries) do out[i] = json_entry(e, opts) end
    frame.print_json { isolates = out, actions = report.actions }
  else
    for i, e in ipairs(entries) do
      io.write(i > 1 and "\n" or "", heading(e))
      if not e.report then
        io.write(string.format("The hunt failed in this isolate: %s [%s]\n", tostring(e.error), tostring(e.code)))
      elseif opts.sampling then
        io.write(sampling_leak.format(e.report, opts.top))
      else
        io.write(detect_leak.format(e.report, opts.top))
      end
    end
    io.write(leak_actions.format(report, opts))
  end
  -- in a directory of our own, the snapshots of an isolate where nothing
  -- leaked go (unless --keep); the directory too once it is empty
  if own and not opts.keep then
    local removed = 0
    for _, e in ipairs(entries) do
      local r = e.report or e.partial
      if r and e.found == 0 then
        remove_snapshots(r)
        removed = removed + 1
      end
    end
    local gone = os.remove(w.dir)
    if not opts.json then
      if removed > 0 then
        print(string.format("(the snapshots of the %d isolate%s where nothing leaked were removed; --keep keeps them)",
          removed, removed == 1 and "" or "s"))
      end
      if not gone then print("Snapshots of the isolates that leaked: " .. w.dir) end
    end
  end
  if leaking > 0 then return 1 end
  if failed > 0 then return frame.EXIT_RUNTIME end
  return 0
end

return M
