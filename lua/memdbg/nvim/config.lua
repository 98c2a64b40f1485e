-- luacheck: globals vim
-- The options of require("memdbg.nvim").setup{} and their defaults (documented
-- in doc/memdbg.txt, *memdbg-setup*). g:memdbg_endpoint and g:memdbg_target,
-- when set (by hand or by :MemdbgTarget), take precedence over setup{}'s.
local M = {}

M.defaults = {
  endpoint = "http://127.0.0.1:9229", -- the runtime's inspector
  target = nil, -- which target at the endpoint (id or type); nil: the first page/node
  allowRemote = false, -- non-loopback endpoints (an inspector is remote code execution)
  connectTimeout = 5, -- seconds for discovery and the websocket handshake
  commandTimeout = 60, -- seconds for one command (GC and actions can be slow)
  progress = "float", -- "float" (a small window that never takes focus), "echo", "notify" or "none"
  results = {
    open = true, -- show a finished operation's results buffer (in a split; the cursor stays put)
    split = "botright", -- the :split modifier: "botright", "topleft", "vertical botright", "tab"
    height = 15, -- lines (or columns with "vertical")
  },
  quickfix = "quickfix", -- where source locations go: "quickfix", "loclist" or "none"
  mappings = { jump = "<CR>", retainers = "r", close = "q" }, -- in results buffers (false: none)
  leaks = { top = 20, gcRounds = 2, dir = nil },
  sample = { seconds = 10, interval = 32768, top = 30 },
  track = { seconds = 10, top = 30, dir = nil },
  monitor = { interval = 1, threshold = 90 },
  files = { top = 50 }, -- rows for :MemdbgSummary, :MemdbgDiff, :MemdbgTop
  drainMs = 10000, -- on quitting mid-snapshot: how long to let the runtime finish sending it
}

local current = vim.deepcopy(M.defaults)

local function merge(dst, src, path)
  for k, v in pairs(src) do
    local d = M.defaults
    for _, p in ipairs(path) do d = d[p] end
    if d[k] == nil and not (k == "target" or k == "dir") then
      error("memdbg.nvim.setup: unknown option " .. table.concat(path, ".") .. (#path > 0 and "." or "") .. tostring(k), 4)
    end
    if type(v) == "table" and type(d[k]) == "table" then
      dst[k] = dst[k] or {}
      local sub = vim.deepcopy(path)
      sub[#sub + 1] = k
      merge(dst[k], v, sub)
    else
      dst[k] = v
    end
  end
end

local CHOICES = {
  progress = { float = true, echo = true, notify = true, none = true },
  quickfix = { quickfix = true, loclist = true, none = true },
}

--- setup(opts): replaces the options with defaults + opts (unknown names raise).
function M.setup(opts)
  if opts ~= nil and type(opts) ~= "table" then error("memdbg.nvim.setup takes a table of options", 3) end
  local new = vim.deepcopy(M.defaults)
  merge(new, opts or {}, {})
  for k, set in pairs(CHOICES) do
    if not set[new[k]] then
      local names = vim.tbl_keys(set)
      table.sort(names)
      error(string.format("memdbg.nvim.setup: %s must be one of %s, not %s", k, table.concat(names, ", "),
        tostring(new[k])), 3)
    end
  end
  current = new
  return current
end

--- get() -> the options in force.
function M.get() return current end

local function gvar(name)
  local ok, v = pcall(function() return vim.g[name] end)
  if ok and type(v) == "string" and v ~= "" then return v end
  return nil
end

--- endpoint(): g:memdbg_endpoint, else setup's endpoint.
function M.endpoint() return gvar("memdbg_endpoint") or current.endpoint end

--- target(): g:memdbg_target, else setup's target.
function M.target() return gvar("memdbg_target") or current.target end

return M
