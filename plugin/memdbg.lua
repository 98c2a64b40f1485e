-- luacheck: globals vim
-- memdbg user commands: a thin layer over require("memdbg.nvim").
--   :MemdbgUsage            heap usage
--   :MemdbgSnapshot [FILE]  a heap snapshot (default ./heap-<time>.heapsnapshot)
--   :MemdbgLeaks {action}   three snapshots around a JavaScript expression, leak groups
--   :MemdbgCancel           cancels what is running
-- The runtime is g:memdbg_endpoint (default http://127.0.0.1:9229). Results go
-- to a scratch buffer memdbg://<what>; b:memdbg_status is "running", "done",
-- "failed" or "cancelled".
if vim.g.loaded_memdbg then return end
vim.g.loaded_memdbg = 1

local running = {} -- handle -> true
local buffers = {} -- title -> bufnr

local function endpoint()
  local e = vim.g.memdbg_endpoint
  if type(e) ~= "string" or e == "" then e = "http://127.0.0.1:9229" end
  return e
end

-- Shows lines in the scratch buffer memdbg://<title>, in a split if not visible.
local function show(title, lines, status)
  local buf = buffers[title]
  if not (buf and vim.api.nvim_buf_is_valid(buf)) then
    buf = vim.api.nvim_create_buf(false, true)
    buffers[title] = buf
    vim.api.nvim_buf_set_name(buf, "memdbg://" .. title)
    vim.api.nvim_buf_set_option(buf, "bufhidden", "hide")
    vim.api.nvim_buf_set_option(buf, "filetype", "memdbg")
  end
  vim.api.nvim_buf_set_option(buf, "modifiable", true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.api.nvim_buf_set_option(buf, "modifiable", false)
  vim.b[buf].memdbg_status = status
  if vim.fn.bufwinid(buf) == -1 then
    vim.cmd("botright split")
    vim.api.nvim_win_set_buf(0, buf)
  end
  return buf
end

local function failed(title, err, code)
  local status = code == "ECANCELLED" and "cancelled" or "failed"
  show(title, vim.split("memdbg: " .. tostring(err), "\n"), status)
  if status == "failed" then vim.notify("memdbg: " .. tostring(err), vim.log.levels.ERROR) end
end

local function track(handle)
  running[handle] = true
  return handle
end

local function untrack(handle) running[handle] = nil end

vim.api.nvim_create_user_command("MemdbgUsage", function()
  local mn = require("memdbg.nvim")
  local ep = endpoint()
  show("usage", { "reading the heap usage of " .. ep .. " ..." }, "running")
  local h
  h = track(mn.usage({ endpoint = ep }, function(usage, err, code)
    untrack(h)
    if not usage then return failed("usage", err, code) end
    show("usage", mn.format_usage(usage, ep), "done")
  end))
end, { desc = "memdbg: heap usage of g:memdbg_endpoint" })

vim.api.nvim_create_user_command("MemdbgSnapshot", function(c)
  local mn = require("memdbg.nvim")
  local ep = endpoint()
  local path = c.args ~= "" and vim.fn.fnamemodify(vim.fn.expand(c.args), ":p") or nil
  local h, head
  local function progress(text)
    show("snapshot", { head, text, "", ":MemdbgCancel stops it" }, "running")
  end
  h = track(mn.snapshot({
    endpoint = ep,
    path = path,
    onProgress = function(done, total)
      progress(string.format("  progress %d / %d objects (%d%%)", done, total or 0,
        total and total > 0 and math.floor(done * 100 / total) or 0))
    end,
    onBytes = function(bytes) progress("  received " .. mn.bytes(bytes)) end,
  }, function(info, err, code)
    untrack(h)
    if not info then return failed("snapshot", err, code) end
    show("snapshot", mn.format_snapshot(info), "done")
  end))
  head = "heap snapshot of " .. ep .. " -> " .. h.path
  progress("  starting ...")
end, { nargs = "?", complete = "file", desc = "memdbg: heap snapshot of g:memdbg_endpoint" })

vim.api.nvim_create_user_command("MemdbgLeaks", function(c)
  local mn = require("memdbg.nvim")
  local ep = endpoint()
  local action = c.args
  local h
  local lines = { "leak hunt on " .. ep .. " around: " .. action, "" }
  show("leaks", lines, "running")
  h = track(mn.leaks({
    endpoint = ep,
    action = action,
    onStep = function(step, detail)
      lines[#lines + 1] = "  " .. step .. (detail and (" " .. tostring(detail)) or "")
      show("leaks", lines, "running")
    end,
    onAnalyseProgress = function(pct)
      lines[#lines] = "  analyse " .. pct .. "%"
      show("leaks", lines, "running")
    end,
  }, function(report, err, code)
    untrack(h)
    if not report then return failed("leaks", err, code) end
    show("leaks", mn.format_leaks(report, action), "done")
  end))
end, { nargs = "+", desc = "memdbg: find leaks around a JavaScript action, e.g. :MemdbgLeaks handleRequests(100)" })

vim.api.nvim_create_user_command("MemdbgCancel", function()
  local n = 0
  for h in pairs(running) do
    if h:cancel() then n = n + 1 end
    running[h] = nil
  end
  vim.notify(string.format("memdbg: cancelled %d operation%s", n, n == 1 and "" or "s"))
end, { desc = "memdbg: cancel the running operations" })

-- Quitting mid-snapshot: cancel, so no .partial file or analysis job is left
-- behind, and give a snapshot in flight up to g:memdbg_drain_ms (10000) to
-- finish draining: Node 20 can crash when its client vanishes mid-snapshot.
vim.api.nvim_create_autocmd("VimLeavePre", {
  group = vim.api.nvim_create_augroup("memdbg", { clear = true }),
  callback = function()
    local mn = package.loaded["memdbg.nvim"]
    if not mn then return end
    mn.cancel_all()
    mn.wait_drained(tonumber(vim.g.memdbg_drain_ms) or 10000)
  end,
})
