-- luacheck: globals vim
-- :MemdbgMonitor: heap usage sampled every interval seconds into a live
-- buffer memdbg://monitor (newest sample first, a bar per sample) and into
-- status() for a statusline, until :MemdbgMonitor stop or :MemdbgCancel.
local mn = require("memdbg.nvim")
local format = require("memdbg.util.format") -- sizes and percentages as the CLI prints them
local results = require("memdbg.nvim.results")

local M = {}

local state = { handle = nil, samples = {}, last = nil, endpoint = nil, alerts = 0 }
local KEEP = 200 -- samples shown

local function bar(ratio, width)
  local n = math.floor(math.min(1, math.max(0, ratio)) * width + 0.5)
  return string.rep("#", n) .. string.rep(".", width - n)
end

local function render(status)
  local s = state.samples
  local v = { lines = {}, items = {}, qf = {}, fold = 99 }
  local last = s[#s]
  v.lines[1] = string.format("Heap of %s every %g s%s", tostring(state.endpoint), state.interval or 1,
    status == "running" and "   (:MemdbgMonitor stop)" or ("   " .. status))
  if last then
    local peak = 0
    for _, x in ipairs(s) do peak = math.max(peak, x.usedSize) end
    v.lines[2] = string.format("now %s / %s (%s), peak %s, %s", format.bytes(last.usedSize),
      format.bytes(last.totalSize), format.percent(last.ratio), format.bytes(peak), format.count(state.alerts, "alert"))
  else
    v.lines[2] = "waiting for the first sample"
  end
  v.lines[3] = ""
  for i = #s, math.max(1, #s - KEEP + 1), -1 do
    local x = s[i]
    v.lines[#v.lines + 1] = string.format("%8.1fs %10s / %-10s %s%s", x.t, format.bytes(x.usedSize),
      format.bytes(x.totalSize), bar(x.ratio, 30), x.alert and "  ALERT" or "")
  end
  return v
end

--- start(opts): starts monitoring (stops a monitor already running).
function M.start(opts)
  M.stop()
  state.samples, state.alerts, state.last = {}, 0, nil
  state.endpoint = opts.endpoint or require("memdbg.nvim.config").endpoint()
  state.interval = opts.interval or require("memdbg.nvim.config").get().monitor.interval
  local first = true
  local handle
  opts.onSample = function(sample)
    if state.handle ~= handle then return end
    state.samples[#state.samples + 1] = sample
    if #state.samples > KEEP then table.remove(state.samples, 1) end
    state.last = sample
    results.show("monitor", render("running"), "running", { open = first })
    first = false
    pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "MemdbgProgress", modeline = false })
  end
  opts.onAlert = function(sample)
    state.alerts = state.alerts + 1
    vim.notify(string.format("memdbg: heap at %s of its total (%s)", format.percent(sample.ratio),
      format.bytes(sample.usedSize)), vim.log.levels.WARN)
  end
  local ok, h = pcall(mn.monitor, opts, function(_, err, code)
    if state.handle ~= handle then return end
    state.handle = nil
    local status = code == "ECANCELLED" and "stopped"
      or (err and ("failed: " .. tostring(err):match("^[^\n]*")) or "done")
    results.show("monitor", render(status), code == "ECANCELLED" and "cancelled" or (err and "failed" or "done"),
      { open = false })
    if err and code ~= "ECANCELLED" then vim.notify("memdbg monitor: " .. tostring(err), vim.log.levels.ERROR) end
    pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "MemdbgProgress", modeline = false })
  end)
  if not ok then return vim.notify("memdbg monitor: " .. tostring(h), vim.log.levels.ERROR) end
  handle = h
  state.handle = h
  return h
end

--- stop() -> whether a monitor was running
function M.stop()
  local h = state.handle
  state.handle = nil
  if h then
    h:cancel()
    local buf = results.bufnr("monitor")
    if buf then results.show("monitor", render("stopped"), "cancelled", { open = false }) end
    return true
  end
  return false
end

--- status() -> "heap 12.3 MiB / 20.0 MiB" while a monitor runs, else ""
function M.status()
  if not state.handle or not state.last then return "" end
  return string.format("heap %s / %s", format.bytes(state.last.usedSize), format.bytes(state.last.totalSize))
end

return M
