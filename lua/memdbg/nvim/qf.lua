-- luacheck: globals vim
-- Source locations as quickfix/location-list entries. The engine reports
-- `location = { url, line, column }` (1-based) for leak groups, objects and
-- classes; profiles and tracking give allocation sites `{ url, line }`. A URL
-- becomes a file when it names one on this machine (file:// URLs, absolute
-- paths as Node reports CommonJS scripts, paths relative to the cwd);
-- node:internal and http URLs stay text-only entries, which :cnext skips.
local config = require("memdbg.nvim.config")

local M = {}

local function readable(path) return path ~= nil and path ~= "" and vim.fn.filereadable(path) == 1 end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- file(url) -> a readable local path | nil
function M.file(url)
  if type(url) ~= "string" or url == "" then return nil end
  local path
  if url:match("^file://") then
    path = unescape(url:gsub("^file://[^/]*", ""))
  elseif url:match("^/") then
    path = url
  elseif not url:match("^%a[%w+.-]*:") then
    path = vim.fn.fnamemodify(url, ":p")
  end
  if readable(path) then return path end
  return nil
end

--- location(t) -> {url, line, column} from a location table or a site {url, line}; nil when there is none
function M.location(t)
  if type(t) ~= "table" then return nil end
  local loc = t.location
  if type(loc) ~= "table" then
    if type(t.url) == "string" and t.url ~= "" then loc = t else return nil end
  end
  local line = tonumber(loc.line)
  if not line then return nil end
  return { url = loc.url, line = line, column = tonumber(loc.column) or tonumber(loc.col) }
end

--- where(loc) -> "url:line:column" for display, as the CLI writes it
function M.where(loc)
  if not loc then return nil end
  return require("memdbg.util.format").where(loc)
end

--- item(loc, text) -> a quickfix entry (filename and position when the file is here)
function M.item(loc, text)
  local file = loc and M.file(loc.url)
  if file then
    return { filename = file, lnum = loc.line, col = loc.column or 1, text = text, valid = 1 }
  end
  if loc then text = text .. "  [" .. M.where(loc) .. "]" end
  return { text = text, valid = 0 }
end

--- set(title, items, report[, win]) -> how many entries have a file
--- The list starts with an entry for line 1 of the results buffer `report`
--- (the report itself): a list whose first entry has no file would start at
--- the first located item, and the first :cnext would skip it. So :cnext goes
--- to the first located item, :cfirst back to the report. Goes to the
--- quickfix list, the location list of win (default: the current window) or
--- nowhere, per setup's quickfix.
function M.set(title, items, report, win)
  local where = config.get().quickfix
  local located = 0
  for _, it in ipairs(items) do
    if it.valid == 1 then located = located + 1 end
  end
  if where == "none" then return located end
  local head = string.format("memdbg: %s (%d with a source location)", title, located)
  local list = { report and { bufnr = report, lnum = 1, col = 1, text = head, valid = 1 } or { text = head, valid = 0 } }
  vim.list_extend(list, items)
  if where == "loclist" then
    win = win or vim.api.nvim_get_current_win()
    vim.fn.setloclist(win, {}, " ", { title = "memdbg: " .. title, items = list })
  else
    vim.fn.setqflist({}, " ", { title = "memdbg: " .. title, items = list })
  end
  return located
end

return M
