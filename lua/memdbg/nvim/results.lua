-- luacheck: globals vim
-- Results buffers memdbg://<kind> (filetype memdbg): one fold per group
-- (foldmethod=indent: headers at indent 0, details indented), and the
-- mappings of setup's `mappings`: <CR> jumps to the source location on the
-- line, r shows the retainer path of the object on the line, q closes.
-- Showing results never moves the cursor out of the user's window.
local config = require("memdbg.nvim.config")
local qf = require("memdbg.nvim.qf")

local M = {}

local buffers = {} -- kind -> bufnr
local items = {} -- bufnr -> { [lnum] = {loc=, id=, snapshot=} }
local group = vim.api.nvim_create_augroup("memdbg_results", { clear = true })

local function window_options(win, fold)
  local wo = vim.wo[win]
  wo.foldmethod = "indent"
  wo.foldlevel = fold or 99
  wo.foldenable = true
  wo.number = false
  wo.relativenumber = false
  wo.wrap = false
  wo.cursorline = true
  wo.spell = false
end

local function buffer(kind)
  local buf = buffers[kind]
  if buf and vim.api.nvim_buf_is_valid(buf) then return buf end
  buf = vim.api.nvim_create_buf(false, true)
  buffers[kind] = buf
  vim.api.nvim_buf_set_name(buf, "memdbg://" .. kind)
  vim.bo[buf].bufhidden = "hide"
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = "memdbg"
  vim.bo[buf].shiftwidth = 4
  vim.bo[buf].modifiable = false
  local maps = config.get().mappings or {}
  local function map(lhs, fn, desc)
    if lhs then vim.keymap.set("n", lhs, fn, { buffer = buf, nowait = true, silent = true, desc = desc }) end
  end
  map(maps.jump, function() M.jump() end, "memdbg: jump to the source location on this line")
  map(maps.retainers, function() M.retainers() end, "memdbg: retainer path of the object on this line")
  map(maps.close, function() M.close() end, "memdbg: close this window")
  -- windows that show the buffer later get the same folds
  vim.api.nvim_create_autocmd("BufWinEnter", { group = group, buffer = buf, callback = function()
    window_options(vim.api.nvim_get_current_win(), vim.b[buf].memdbg_fold)
  end })
  vim.api.nvim_create_autocmd("BufWipeout", { group = group, buffer = buf, callback = function()
    items[buf] = nil
    if buffers[kind] == buf then buffers[kind] = nil end
  end })
  return buf
end

--- bufnr(kind) -> the results buffer of that kind, or nil
function M.bufnr(kind)
  local buf = buffers[kind]
  if buf and vim.api.nvim_buf_is_valid(buf) then return buf end
  return nil
end

-- Opens the fold under the group to show first (v.open: the first leak
-- group's header) and puts the cursor on its header.
local function reveal(win, buf)
  local line = vim.b[buf].memdbg_open
  if not line then return end
  vim.api.nvim_win_call(win, function()
    if line < vim.api.nvim_buf_line_count(buf) then
      pcall(vim.api.nvim_win_set_cursor, win, { line + 1, 0 })
      pcall(vim.cmd, "normal! zv")
    end
    pcall(vim.api.nvim_win_set_cursor, win, { line, 0 })
  end)
end

-- Opens buf in a split and goes back to the window the user was in.
local function open(buf)
  local r = config.get().results
  local back = vim.api.nvim_get_current_win()
  local mode = vim.api.nvim_get_mode().mode
  local ok, err = pcall(function()
    vim.cmd(string.format("noautocmd %s %ssplit", r.split, r.split:match("tab") and "" or tostring(r.height)))
    local win = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(win, buf)
    window_options(win, vim.b[buf].memdbg_fold)
    reveal(win, buf)
  end)
  if vim.api.nvim_win_is_valid(back) then
    local tab = vim.api.nvim_win_get_tabpage(back)
    if tab ~= vim.api.nvim_get_current_tabpage() then vim.api.nvim_set_current_tabpage(tab) end
    vim.cmd("noautocmd call win_gotoid(" .. back .. ")")
  end
  if not ok then vim.notify("memdbg: cannot open the results window: " .. tostring(err), vim.log.levels.WARN) end
  -- redraw now in insert mode too (a split appeared under the cursor's window)
  if mode:sub(1, 1) == "i" then vim.cmd("redraw") end
end

--- show(kind, view, status[, opts]) -> bufnr
--- Puts the view's lines in memdbg://<kind>; b:memdbg_status = status. Opens a
--- window for it (without entering) when it is not visible and setup's
--- results.open is on, unless opts.open == false.
function M.show(kind, v, status, opts)
  local buf = buffer(kind)
  vim.bo[buf].modifiable = true
  -- a line may quote a multi-line message (a runtime's error): a buffer line holds no newline
  for i, l in ipairs(v.lines) do
    if l:find("\n", 1, true) then v.lines[i] = l:gsub("\n", " ") end
  end
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, v.lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
  items[buf] = v.items or {}
  vim.b[buf].memdbg_status = status
  vim.b[buf].memdbg_fold = v.fold or 99
  vim.b[buf].memdbg_open = v.open
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    window_options(win, v.fold)
    reveal(win, buf)
  end
  local want = (opts and opts.open) ~= false and config.get().results.open
  if want and vim.fn.bufwinid(buf) == -1 then open(buf) end
  return buf
end

--- item([lnum]) -> the item on the cursor's line (or lnum) of the current results buffer
function M.item(lnum)
  local buf = vim.api.nvim_get_current_buf()
  lnum = lnum or vim.api.nvim_win_get_cursor(0)[1]
  return (items[buf] or {})[lnum]
end

-- A window to open source files in: the previous one when it holds a normal
-- buffer, else another normal window of the tab, else a new split above.
local function source_window()
  local cur = vim.api.nvim_get_current_win()
  local function normal(win)
    if not win or win == 0 or win == cur or not vim.api.nvim_win_is_valid(win) then return false end
    if vim.api.nvim_win_get_config(win).relative ~= "" then return false end
    local b = vim.api.nvim_win_get_buf(win)
    return vim.bo[b].buftype == "" or vim.bo[b].buftype == "help"
  end
  local prev = vim.fn.win_getid(vim.fn.winnr("#"))
  if normal(prev) then return prev end
  for _, w in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    if normal(w) then return w end
  end
  vim.cmd("aboveleft split")
  return vim.api.nvim_get_current_win()
end

--- jump(): opens the source location of the line under the cursor.
function M.jump()
  local it = M.item()
  local loc = it and it.loc
  if not loc then return vim.notify("memdbg: no source location on this line", vim.log.levels.WARN) end
  local file = qf.file(loc.url)
  if not file then
    return vim.notify("memdbg: " .. qf.where(loc) .. " is not a file on this machine", vim.log.levels.WARN)
  end
  local win = source_window()
  vim.api.nvim_set_current_win(win)
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  pcall(vim.api.nvim_win_set_cursor, win, { loc.line, math.max(0, (loc.column or 1) - 1) })
  vim.cmd("normal! zv")
end

--- retainers(): the retainer path of the object on the cursor's line.
function M.retainers()
  local it = M.item()
  if not (it and it.id and it.snapshot) then
    return vim.notify("memdbg: no object on this line", vim.log.levels.WARN)
  end
  require("memdbg.nvim").show_retainers(it.snapshot, it.id)
end

--- close(): closes the results window (or hides the buffer in the last window).
function M.close()
  if #vim.api.nvim_tabpage_list_wins(0) > 1 then
    vim.cmd("close")
  else
    vim.cmd("bprevious")
  end
end

return M
