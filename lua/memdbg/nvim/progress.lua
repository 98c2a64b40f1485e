-- luacheck: globals vim
-- Progress of running operations, shown where it never takes the focus:
--   "float"  a small floating window in the bottom right corner (not
--            focusable, never entered) that closes itself when all is done;
--   "echo"   the command line;  "notify"  vim.notify when an operation starts
--            and ends;  "none"  nothing (read status() in a statusline).
-- Every change also fires `User MemdbgProgress` (for statusline plugins).
local config = require("memdbg.nvim.config")

local M = {}

local uv = vim.uv or vim.loop
local entries = {} -- in start order: {title=, text=, done=, at=}
local float = { buf = nil, win = nil }
local LINGER_MS = 2000 -- a finished entry stays this long in the float
local THROTTLE_MS = 100

local function mode() return config.get().progress end

local function line(e) return e.title .. (e.text and e.text ~= "" and (": " .. e.text) or "") end

local function close_float()
  if float.win and vim.api.nvim_win_is_valid(float.win) then pcall(vim.api.nvim_win_close, float.win, true) end
  float.win = nil
end

local function draw_float()
  local lines = {}
  for _, e in ipairs(entries) do lines[#lines + 1] = " " .. line(e) .. " " end
  if #lines == 0 then return close_float() end
  if not (float.buf and vim.api.nvim_buf_is_valid(float.buf)) then
    float.buf = vim.api.nvim_create_buf(false, true)
    vim.bo[float.buf].bufhidden = "hide"
  end
  vim.api.nvim_buf_set_lines(float.buf, 0, -1, false, lines)
  local width = 10
  for _, l in ipairs(lines) do width = math.max(width, vim.fn.strdisplaywidth(l)) end
  width = math.min(width, math.max(10, vim.o.columns - 4))
  local cfg = { relative = "editor", anchor = "SE", row = math.max(1, vim.o.lines - vim.o.cmdheight - 1),
    col = vim.o.columns, width = width, height = #lines, style = "minimal", focusable = false, zindex = 60 }
  if float.win and vim.api.nvim_win_is_valid(float.win) then
    vim.api.nvim_win_set_config(float.win, cfg)
  else
    cfg.noautocmd = true
    float.win = vim.api.nvim_open_win(float.buf, false, cfg)
    vim.wo[float.win].winblend = 0
  end
end

local pending = false
local last_draw = 0

local function render()
  pending = false
  last_draw = uv.now()
  local m = mode()
  if m == "float" then
    pcall(draw_float)
  else
    close_float()
    if m == "echo" then
      local e = entries[#entries]
      if e then vim.api.nvim_echo({ { "memdbg " .. line(e), e.level == "error" and "ErrorMsg" or "MoreMsg" } }, false, {}) end
    end
  end
  pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "MemdbgProgress", modeline = false })
end

-- Redraws at most every THROTTLE_MS (progress can change thousands of times).
local function schedule_render(now)
  if now then return render() end
  if pending then return end
  pending = true
  local wait = math.max(0, THROTTLE_MS - (uv.now() - last_draw))
  vim.defer_fn(render, wait)
end

local function remove(e)
  for i, x in ipairs(entries) do
    if x == e then
      table.remove(entries, i)
      break
    end
  end
  schedule_render(true)
end

--- begin(title) -> entry with entry:update(text) and entry:done(text[, level])
function M.begin(title)
  local e = { title = title, text = "starting" }
  entries[#entries + 1] = e
  if mode() == "notify" then vim.notify("memdbg: " .. title .. " ...", vim.log.levels.INFO) end
  function e.update(_, text)
    if e.finished then return end
    e.text = text
    schedule_render(false)
  end
  function e.done(_, text, level)
    if e.finished then return end
    e.finished, e.text, e.level = true, text, level
    local m = mode()
    if m == "notify" or (m == "echo" and level == "error") then
      vim.notify("memdbg: " .. title .. ": " .. tostring(text),
        level == "error" and vim.log.levels.ERROR or vim.log.levels.INFO)
    end
    schedule_render(true)
    vim.defer_fn(function() remove(e) end, m == "float" and LINGER_MS or 0)
  end
  schedule_render(true)
  return e
end

--- status() -> one line for a statusline: the running operations and their
--- progress ("" when nothing runs), e.g. %{v:lua.require'memdbg.nvim'.status()}
function M.status()
  local parts = {}
  for _, e in ipairs(entries) do
    if not e.finished then parts[#parts + 1] = line(e) end
  end
  local mon = package.loaded["memdbg.nvim.monitor"]
  local m = mon and mon.status() or ""
  if m ~= "" then parts[#parts + 1] = m end
  if #parts == 0 then return "" end
  return "memdbg " .. table.concat(parts, " | ")
end

--- window() -> the float's window id while it is shown (for tests)
function M.window()
  if float.win and vim.api.nvim_win_is_valid(float.win) then return float.win end
  return nil
end

return M
