-- luacheck: globals vim
-- Loaded by every driver script the spec runs inside headless Neovim:
--   MEMDBG_ROOT=... MEMDBG_ENDPOINT=... MEMDBG_OUT=result.json \
--     nvim --clean --headless -n --cmd "set rtp+=$MEMDBG_ROOT" -c "luafile spec/nvim/<script>.lua"
-- (Neovim 0.7 has no `-l`, so the arguments come through the environment.)
-- The checkout is on runtimepath and nothing else is set: the documented
-- setup (docs/neovim.md), so package.path and package.cpath are Neovim's own
-- and plugin/memdbg.lua has been loaded as a user's Neovim loads it.
-- B.finish(result) writes the result as JSON to $MEMDBG_OUT and quits
-- (exit 0; 3 on B.fail). A watchdog quits with status 4 after
-- $MEMDBG_DEADLINE seconds (default 120).
local root = os.getenv("MEMDBG_ROOT") or vim.fn.getcwd()

-- MEMDBG_NO_CJSON=1: behave as if lua-cjson were not installed for LuaJIT,
-- so memdbg.util.json falls back to Neovim's vim.json.
if os.getenv("MEMDBG_NO_CJSON") == "1" then
  for _, m in ipairs({ "cjson", "cjson.safe" }) do
    package.loaded[m] = nil
    package.preload[m] = function() error("lua-cjson hidden by MEMDBG_NO_CJSON") end
  end
end

-- MEMDBG_PATH_ONLY=DIR: $PATH is only DIR inside this Neovim (no luajit, no
-- lua5.4), as on a machine with the build tools but no interpreter.
if os.getenv("MEMDBG_PATH_ONLY") then vim.env.PATH = os.getenv("MEMDBG_PATH_ONLY") end

local uv = vim.uv or vim.loop
local B = {
  root = root,
  endpoint = os.getenv("MEMDBG_ENDPOINT"),
  out = os.getenv("MEMDBG_OUT"),
  uv = uv,
}

function B.env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

function B.now() return uv.hrtime() / 1e9 end

local function write(result)
  local text = vim.json.encode(result)
  if B.out then
    local f = assert(io.open(B.out, "w"))
    f:write(text)
    f:close()
  else
    io.stdout:write(text, "\n")
  end
end

local finished = false
function B.finish(result)
  if finished then return end
  finished = true
  write(result)
  vim.schedule(function() vim.cmd("qall!") end)
end

function B.fail(msg, extra)
  if finished then return end
  finished = true
  local r = extra or {}
  r.error = tostring(msg)
  write(r)
  io.stderr:write("driver script failed: ", tostring(msg), "\n")
  vim.schedule(function() vim.cmd("cquit 3") end)
end

local watchdog = uv.new_timer()
watchdog:start(tonumber(B.env("MEMDBG_DEADLINE", "120")) * 1000, 0, vim.schedule_wrap(function()
  B.fail("watchdog: the script did not finish in time", B.partial)
end))

-- Runs the script body, turning a Lua error into B.fail.
function B.run(fn)
  local ok, err = xpcall(fn, debug.traceback)
  if not ok then B.fail(err) end
end

return B
