-- luacheck: globals vim
-- The analyses of snapshot files (find-leaks, summary, diff, top, retainers)
-- and target discovery run as `memdbg SUBCOMMAND ... --json` child
-- processes: the engine's parse is one blocking C call, which would freeze the
-- editor, and a child can be stopped. This module finds the command, runs it,
-- reads its progress bar off stderr and decodes its JSON.
local load = require("memdbg.nvim.load")
local driver = require("memdbg.nvim.driver")

local M = {}

local unpack = table.unpack or unpack -- luacheck: ignore 113

local function executable(name) return vim.fn.executable(name) == 1 end
local function readable(path) return vim.fn.filereadable(path) == 1 end

-- Neovim itself as the Lua interpreter: LuaJIT with the checkout's
-- build/luajit, for machines with the build tools but no luajit binary
-- (Debian's libluajit-5.1-dev does not bring it). Neovim 0.7 has no -l, so
-- the arguments go through $MEMDBG_ARGV as JSON.
local function via_nvim(script)
  return { vim.v.progpath, "--clean", "--headless", "-n", "-c",
    "lua arg = vim.json.decode(os.getenv('MEMDBG_ARGV')); arg[0] = " .. string.format("%q", script)
      .. "; dofile(arg[0])" }
end

--- command(opts) -> argv prefix, MEMDBG_BUILD | nil, arguments-through-env
--- From a checkout: scripts/memdbg under an interpreter whose build is there
--- (luajit with build/luajit, lua5.4 with build/lua5.4, else Neovim itself
--- with build/luajit); otherwise an installed `memdbg`. opts.analyser =
--- {argv...} overrides.
function M.command(opts)
  if opts and opts.analyser then return vim.deepcopy(opts.analyser), nil end
  local root = load.root
  local script = root and (root .. "/scripts/memdbg")
  if script and readable(script) then
    for _, lua in ipairs({ "luajit", "lua5.4" }) do
      local build = root .. "/build/" .. lua
      if executable(lua) and readable(build .. "/memdbg/_heap.so") then
        return { lua, script }, build
      end
    end
    local build = load.build_dir()
    if build then return via_nvim(script), build, true end
  end
  return { "memdbg" }, nil
end

-- The CLI's progress bar, drawn on stderr because MEMDBG_PROGRESS=1:
-- "\rloading x [#####.....]  42% ...\27[K"; the last percentage in a chunk.
local function percent(chunk)
  local pct
  for p in chunk:gmatch("%] +(%d+)%%") do pct = tonumber(p) end
  return pct
end

local function clean(text)
  return vim.trim((text:gsub("\r[^\r\n]-\27%[K", ""):gsub("\r", "")))
end

local Job = {}
Job.__index = Job

function Job:cancel()
  if self.reported then return false end
  self.cancelled = true
  self:_done(nil, self.name .. " cancelled", "ECANCELLED")
  return true
end

function Job:isDone() return self.reported == true end

function Job:_done(result, err, code, status)
  if self.reported then return end
  self.reported, self.finished = true, true
  self.status = err and (code == "ECANCELLED" and "cancelled" or "failed") or "done"
  driver.untrack(self)
  if self.id then
    local id = self.id
    self.id = nil
    pcall(vim.fn.jobstop, id)
  end
  local cb = self.callback
  vim.schedule(function() cb(result, err, code, status) end)
end

--- run(name, args, opts, callback(doc, err, code, status)) -> handle
--- Runs `memdbg ARGS...` (args without --json, added here). Exit statuses in
--- opts.ok (default {0}) are success; the callback gets the decoded JSON
--- document and the status. opts.onProgress(percent, 100) follows the CLI's
--- progress bar. handle:cancel() stops the child.
function M.run(name, args, opts, callback)
  opts = opts or {}
  local cmd, build, env_args = M.command(opts)
  local argv = vim.list_extend(vim.deepcopy(args), { "--json" })
  local env = { MEMDBG_PROGRESS = "1" }
  if env_args then env.MEMDBG_ARGV = vim.json.encode(argv) else vim.list_extend(cmd, argv) end
  if build then env.MEMDBG_BUILD = build end
  return M.spawn(name, cmd, env, opts, callback, env_args and argv or cmd)
end

--- lua(name, call, args, opts, callback(doc, err, code)) -> handle
--- Runs memdbg.nvim.child's `call` with args in a headless Neovim child that
--- finds the same Lua modules as this one, for library calls that would hold
--- the editor. doc is what the call returned.
function M.lua(name, call, args, opts, callback)
  local root = load.root
  local path = package.path
  if root then path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. path end
  local cmd = { vim.v.progpath, "--clean", "--headless", "-n", "-c", "lua package.path = os.getenv('MEMDBG_LUA_PATH'); "
    .. "package.cpath = os.getenv('MEMDBG_LUA_CPATH'); require('memdbg.nvim.child').main()" }
  local env = { MEMDBG_LUA_PATH = path, MEMDBG_LUA_CPATH = package.cpath,
    MEMDBG_CHILD = vim.json.encode({ call = call, args = args }) }
  return M.spawn(name, cmd, env, opts or {}, callback, { call, unpack(args) })
end

--- spawn(name, cmd, env, opts, callback, shown): the child process and its JSON.
function M.spawn(name, cmd, env, opts, callback, shown)
  local job = setmetatable({ name = name, callback = callback, status = "running", argv = cmd }, Job)
  local okset = {}
  for _, s in ipairs(opts.ok or { 0 }) do okset[s] = true end
  local out, errtext = {}, ""
  local progress = opts.onProgress
  local ok, id = pcall(vim.fn.jobstart, cmd, {
    env = env,
    stdout_buffered = true,
    on_stdout = function(_, data) out = data or {} end,
    on_stderr = function(_, data)
      local chunk = table.concat(data or {}, "\n")
      errtext = errtext .. chunk
      if progress and not job.reported then
        local pct = percent(chunk)
        if pct then progress(pct, 100) end
      end
    end,
    on_exit = function(_, status)
      job.id = nil
      if job.reported then return end
      local text = table.concat(out, "\n")
      local okj, doc = pcall(vim.json.decode, text)
      if okset[status] and okj and type(doc) == "table" then return job:_done(doc, nil, nil, status) end
      local msg = clean(errtext)
      if msg == "" and okj and type(doc) == "table" and doc.error then msg = tostring(doc.error) end
      job:_done(nil, string.format("%s failed (%s, exit %d): %s", name, table.concat(shown, " "), status,
        msg ~= "" and msg or text:sub(1, 300)), status == 2 and "EINVAL" or "EANALYSE")
    end,
  })
  if not ok or type(id) ~= "number" or id <= 0 then
    job.reported = true
    job.status = "failed"
    vim.schedule(function()
      callback(nil, "cannot start " .. table.concat(cmd, " ") .. ": " .. tostring(id), "EANALYSE")
    end)
    return job
  end
  job.id = id
  return driver.track(job)
end

return M
