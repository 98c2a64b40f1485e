-- luacheck: globals vim
-- What the user commands do: start an operation, show its progress where it
-- never takes the focus (memdbg.nvim.progress), and when it is done put the
-- result in a results buffer (memdbg.nvim.results) and its source locations
-- in the quickfix or location list (memdbg.nvim.qf).
local mn = require("memdbg.nvim")
local format = require("memdbg.nvim.format")
local progress = require("memdbg.nvim.progress")
local qf = require("memdbg.nvim.qf")
local results = require("memdbg.nvim.results")
local config = require("memdbg.nvim.config")

local M = {}

local function pct(done, total)
  if total and total > 0 then return string.format("%d%%", math.floor(done * 100 / total)) end
  return tostring(done)
end

-- Shows a finished operation: its view in memdbg://<kind>, its locations in the list.
local function finish(kind, p, title)
  return function(v, summary)
    local located = nil
    local buf = results.show(kind, v, "done")
    if #v.qf > 0 or v.located then located = qf.set(title, v.qf, buf) end
    local where = ""
    if located and located > 0 and config.get().quickfix ~= "none" then
      where = string.format(", %d in the %s list (:cnext)", located, config.get().quickfix == "loclist" and "location" or "quickfix")
    end
    p:done((summary or "done") .. where)
  end
end

local function failed(kind, p)
  return function(err, code)
    if code == "ECANCELLED" then
      p:done("cancelled")
      local buf = results.bufnr(kind)
      if buf then vim.b[buf].memdbg_status = "cancelled" end
      return
    end
    p:done("failed", "error")
    results.show(kind, format.error(kind, err, code), "failed")
    vim.notify("memdbg " .. kind .. ": " .. tostring(err), vim.log.levels.ERROR)
  end
end

-- Runs op(opts, callback) with progress and results; render(result) -> view, summary.
local function run(kind, title, op, opts, render)
  local p = progress.begin(title)
  local ok_, fail = finish(kind, p, title), failed(kind, p)
  local buf = results.bufnr(kind)
  if buf then vim.b[buf].memdbg_status = "running" end
  local ok, h = pcall(op, opts, function(r, err, code)
    if r == nil then return fail(err, code) end
    ok_(render(r))
  end)
  if not ok then
    p:done("failed", "error")
    vim.notify("memdbg " .. kind .. ": " .. tostring(h):gsub("^[^:]*:%d+: ", ""), vim.log.levels.ERROR)
    return nil
  end
  return h, p
end

function M.usage(opts)
  local ep = opts.endpoint or config.endpoint()
  return run("usage", "usage", mn.usage, opts, function(u)
    return format.usage(u, ep), string.format("%s used of %s", format.bytes(u.usedSize), format.bytes(u.totalSize))
  end)
end

function M.snapshot(opts)
  local p
  opts.onProgress = function(done, total) p:update("building " .. pct(done, total)) end
  opts.onBytes = function(bytes) p:update("received " .. format.bytes(bytes)) end
  local h
  h, p = run("snapshot", "snapshot", mn.snapshot, opts, function(info)
    return format.snapshot(info), format.bytes(info.bytes) .. " → " .. vim.fn.fnamemodify(info.path, ":~:.")
  end)
  return h
end

local function describe_action(opts)
  if opts.actionCommand then return "$ " .. opts.actionCommand end
  if opts.actionHttp then return (opts.actionHttp.method or "GET") .. " " .. opts.actionHttp.url end
  if opts.duration then return string.format("%g s of the app's own traffic", opts.duration) end
  return opts.action
end

function M.leaks(opts)
  local p
  local what = describe_action(opts)
  opts.onStep = function(step, detail) p:update(step .. (detail and (" " .. tostring(detail)) or "")) end
  opts.onProgress = function(done, total) p:update("snapshot " .. pct(done, total)) end
  opts.onAnalyseProgress = function(percent) p:update("analyse " .. percent .. "%") end
  local h
  h, p = run("leaks", "leak hunt", mn.leaks, opts, function(report)
    if report.mode == "sampling" then
      local n = #(report.sites or {})
      return format.leaks(report, what), string.format("%d growing allocation site%s", n, n == 1 and "" or "s")
    end
    local n, new = tonumber(report.total) or #(report.leaks or {}), tonumber(report.newLeaks)
    local summary = n == 0 and "no leaks" or string.format("%d leak group%s", n, n == 1 and "" or "s")
    if n > 0 and new and new < n then summary = summary .. string.format(", %d new", new) end
    return format.leaks(report, what), summary
  end)
  return h
end

local function ticking(p, label)
  return function(elapsed, total) p:update(string.format("%s %.0f/%.0f s", label, elapsed, total)) end
end

function M.sample(opts)
  local p
  opts.onTick = function(...) return ticking(p, "sampling")(...) end
  local h
  h, p = run("sample", "sampling", mn.sample, opts, function(r)
    return format.sample(r, opts.action and ("around " .. tostring(describe_action(opts))) or nil),
      string.format("%d samples", r.sampleCount or 0)
  end)
  return h
end

function M.track(opts)
  local p
  opts.onTick = function(...) return ticking(p, "tracking")(...) end
  opts.onProgress = function(done, total) p:update("snapshot " .. pct(done, total)) end
  local h
  h, p = run("track", "tracking", mn.track, opts, function(r)
    return format.track(r), string.format("%d allocation sites", #(r.sites or {}))
  end)
  return h
end

function M.verify(opts)
  return run("verify", "verify", mn.verify, opts, function(r)
    return format.verify(r, opts.allocate .. " / " .. opts.cleanup), r.released and "released" or "NOT released"
  end)
end

local function file_progress(p) return function(percent) p:update("loading " .. percent .. "%") end end

function M.summary(opts)
  local p
  opts.onProgress = function(...) return file_progress(p)(...) end
  local h
  h, p = run("summary", "summary", mn.summary, opts, function(doc)
    return format.summary(doc, opts.file), string.format("%d classes", #(doc.classes or {}))
  end)
  return h
end

function M.diff(opts)
  local p
  opts.onProgress = function(...) return file_progress(p)(...) end
  local h
  h, p = run("diff", "diff", mn.diff, opts, function(doc)
    return format.diff(doc, opts.base, opts.file), string.format("%d classes changed", #(doc.classes or {}))
  end)
  return h
end

function M.top(opts)
  local p
  opts.onProgress = function(...) return file_progress(p)(...) end
  local h
  h, p = run("top", "top", mn.top, opts, function(doc)
    return format.top(doc, opts.file), string.format("%d objects", #(doc.objects or {}))
  end)
  return h
end

function M.retainers(file, id)
  local p
  local opts = { file = file, id = id, onProgress = function(...) return file_progress(p)(...) end }
  local h
  h, p = run("retainers", "retainers @" .. tostring(id), mn.retainers, opts, function(doc)
    return format.retainers(doc, file, id), string.format("%d steps", #(doc.path or {}))
  end)
  return h
end

--- pick_target(endpoint): vim.ui.select over the endpoint's targets; the
--- choice goes to g:memdbg_endpoint and g:memdbg_target.
function M.pick_target(opts)
  local p = progress.begin("targets")
  local ep = opts.endpoint or config.endpoint()
  local ok, err = pcall(mn.targets, { endpoint = ep, allowRemote = opts.allowRemote }, function(doc, err)
    if not doc then
      p:done("failed", "error")
      return vim.notify("memdbg targets: " .. tostring(err), vim.log.levels.ERROR)
    end
    local list = doc.targets or {}
    p:done(string.format("%d target%s", #list, #list == 1 and "" or "s"))
    if #list == 0 then return vim.notify("memdbg: no targets at " .. ep, vim.log.levels.WARN) end
    vim.ui.select(list, {
      prompt = "memdbg target at " .. ep,
      format_item = function(t)
        return string.format("%-8s %s  %s", tostring(t.type), tostring(t.title or ""), tostring(t.url or t.id))
      end,
    }, function(t)
      if not t then return end
      vim.g.memdbg_endpoint = ep
      vim.g.memdbg_target = t.id
      vim.notify(string.format("memdbg: target %s (%s) at %s", tostring(t.title or t.id), tostring(t.type), ep))
    end)
  end)
  if not ok then
    p:done("failed", "error")
    vim.notify("memdbg targets: " .. tostring(err), vim.log.levels.ERROR)
  end
end

return M
