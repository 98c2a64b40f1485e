-- luacheck: globals vim
-- memdbg.nvim: memdbg inside Neovim, without ever blocking the editor.
--
--   local mn = require("memdbg.nvim")
--   mn.setup{ endpoint = "http://127.0.0.1:9229" }          -- options: doc/memdbg.txt, *memdbg-setup*
--   mn.usage({}, function(usage, err, code) end)
--   local h = mn.snapshot({ path = "x.heapsnapshot", onProgress = function(done, total) end },
--     function(info, err, code) end)
--   mn.leaks({ action = "handleRequests(100)" }, function(report, err, code) end)
--   h:cancel()   -- the callback then gets nil, "... cancelled", "ECANCELLED"
--
-- Every entry point returns a handle at once; the callback (and onProgress,
-- onBytes, onStep, ...) run later through vim.schedule, so they may use any
-- Neovim API. Operations on a runtime run in a coroutine driven by the loop
-- (memdbg.nvim.driver); analyses of snapshot files run in a child process
-- (memdbg.nvim.job). The user commands are memdbg.nvim.commands.
local config = require("memdbg.nvim.config")
local driver = require("memdbg.nvim.driver")
local load = require("memdbg.nvim.load")
local format = require("memdbg.nvim.format")
-- loaded now, so that the first call returns as fast as the others
require("memdbg.nvim.ops")
require("memdbg.nvim.files")

local M = {}

M.root = load.root
M.SLICE = driver.SLICE
M.DEFAULT_ENDPOINT = config.defaults.endpoint
M.bytes = format.bytes

--- setup(opts): options and defaults in doc/memdbg.txt (*memdbg-setup*).
function M.setup(opts) return config.setup(opts) end

local function check_args(name, opts, callback)
  if opts == nil then opts = {} end
  if type(opts) == "string" then opts = { endpoint = opts } end
  if type(opts) ~= "table" then error("memdbg.nvim." .. name .. " takes a table of options", 3) end
  if type(callback) ~= "function" then error("memdbg.nvim." .. name .. ": the last argument must be a callback", 3) end
  return opts
end

-- The options with the connection settings filled in from setup{} and
-- g:memdbg_endpoint / g:memdbg_target (read here: the driver runs in libuv
-- callbacks, where vim.g is off limits).
local function resolve(opts, section)
  local c = config.get()
  local o = {}
  for k, v in pairs(c[section] or {}) do o[k] = v end
  for k, v in pairs(opts) do o[k] = v end
  if o.endpoint == nil then
    o.endpoint = config.endpoint()
    if o.target == nil then o.target = config.target() end
  end
  if o.allowRemote == nil then o.allowRemote = c.allowRemote end
  if o.connectTimeout == nil then o.connectTimeout = c.connectTimeout end
  if o.commandTimeout == nil then o.commandTimeout = c.commandTimeout end
  return o
end

local function entry(name, module, section)
  return function(opts, callback)
    opts = check_args(name, opts, callback)
    return require(module)[name](resolve(opts, section), callback)
  end
end

--- usage({endpoint=}, function(usage, err, code)) -> handle
M.usage = entry("usage", "memdbg.nvim.ops")
--- snapshot({path=, dir=, gc=false, timeout=30, onProgress=fn(done, total), onBytes=fn(bytes, chunks)},
---   function(info, err, code)); info = {path, bytes, seconds, chunks}; a cancelled or failed snapshot leaves no file
M.snapshot = entry("snapshot", "memdbg.nvim.ops")
--- leaks({action= | actionCommand= | actionHttp=, dir=, top=20, gcRounds=2, timeout=30, trackAllocations=false,
---   onStep=fn(step, detail),
---   onProgress=, onAnalyseProgress=fn(percent, 100)}, function(report, err, code))
M.leaks = entry("leaks", "memdbg.nvim.ops", "leaks")
--- sample({seconds=10 | action=, interval=32768, top=30, onTick=fn(elapsed, total)}, function(r, err, code))
M.sample = entry("sample", "memdbg.nvim.ops", "sample")
--- track({seconds=10 | action=, path=, dir=, top=30, onTick=, onProgress=, onBytes=}, function(r, err, code))
M.track = entry("track", "memdbg.nvim.ops", "track")
--- verify({allocate="JS", cleanup="JS", gcRounds=3, tolerance=0.1}, function(r, err, code))
M.verify = entry("verify", "memdbg.nvim.ops")
--- monitor({interval=1, threshold=90 (percent), count=, onSample=fn(sample), onAlert=fn(sample)}, function(r, err, code))
M.monitor = entry("monitor", "memdbg.nvim.ops", "monitor")
--- summary({file=, top=50}), diff({base=, file=, top=50}), top({file=, n=20}), retainers({file=, id=}),
--- targets({endpoint=}): the CLI's JSON documents, from a child process
M.summary = entry("summary", "memdbg.nvim.files")
M.diff = entry("diff", "memdbg.nvim.files")
M.top = entry("top", "memdbg.nvim.files")
M.retainers = entry("retainers", "memdbg.nvim.files")
M.targets = entry("targets", "memdbg.nvim.files")

--- cancel_all() -> how many; running() -> handles; wait_drained(ms) -> true when no snapshot drains;
--- abandon_draining() closes what still drains (its partial file removed)
M.cancel_all = driver.cancel_all
M.running = driver.running
M.wait_drained = driver.wait_drained
M.abandon_draining = driver.abandon_draining

--- status() -> "" or one line for a statusline (running operations, the monitor's last sample)
function M.status() return require("memdbg.nvim.progress").status() end

--- show_retainers(file, id): the retainer path of node @id in a results buffer.
function M.show_retainers(file, id) return require("memdbg.nvim.ui").retainers(file, id) end

--- Lines of the results buffers (kept for scripts).
function M.format_usage(u, endpoint) return format.usage(u, endpoint).lines end
function M.format_snapshot(info) return format.snapshot(info).lines end
function M.format_leaks(report, action) return format.leaks(report, action).lines end

return M
