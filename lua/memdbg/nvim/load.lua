-- luacheck: globals vim
-- Finds and loads memdbg's Lua library and C modules inside Neovim's LuaJIT.
--
-- The documented setups are only "the checkout on runtimepath" (by hand, or a
-- plugin manager's clone) plus `make LUA=luajit`, which leaves the C modules
-- in <checkout>/build/luajit/memdbg/{_core,_heap}.so. Neovim's runtimepath
-- loader finds lua/memdbg/*.lua but looks for C modules only under lua/, so
-- each module the checkout built and package.cpath cannot find is registered
-- in package.preload under its own name (no search path is widened). An
-- installed copy (luarocks --lua-version=5.1, make install) on package.cpath
-- wins over the checkout's build.
--
-- Lua 5.1's require leaves a sentinel in package.loaded when a loader raises,
-- so the next require of that name fails with "loop or previous error loading
-- module": after a failed load the sentinels are cleared, and a later call
-- (after running make) succeeds without restarting Neovim.
local M = {}

local C_MODULES = { "memdbg._core", "memdbg._heap" }

local uv = vim.uv or vim.loop

-- The checkout this file lives in: <root>/lua/memdbg/nvim/load.lua
local function plugin_root()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) ~= "@" then return nil end
  local path = src:sub(2)
  if path:sub(1, 1) ~= "/" then path = uv.cwd() .. "/" .. path end
  return (path:gsub("/lua/memdbg/nvim/load%.lua$", ""):gsub("/%./", "/"))
end
M.root = plugin_root()

-- (no vim.fn: this runs in libuv callbacks too)
local function readable(path)
  if path == nil then return false end
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- The directory of the checkout's LuaJIT build, when it holds both modules.
function M.build_dir()
  if not M.root then return nil end
  local dir = M.root .. "/build/luajit"
  for _, name in ipairs(C_MODULES) do
    if not readable(dir .. "/" .. name:gsub("%.", "/") .. ".so") then return nil end
  end
  return dir
end

local function on_cpath(name)
  if package.searchpath then return package.searchpath(name, package.cpath) ~= nil end
  local file = name:gsub("%.", "/")
  for pattern in package.cpath:gmatch("[^;]+") do
    if readable((pattern:gsub("%?", file))) then return true end
  end
  return false
end

-- Registers the checkout's build of each C module that nothing else provides.
local function preload_build()
  local dir = M.build_dir()
  if not dir then return end
  for _, name in ipairs(C_MODULES) do
    if package.loaded[name] == nil and package.preload[name] == nil and not on_cpath(name) then
      local so = dir .. "/" .. name:gsub("%.", "/") .. ".so"
      package.preload[name] = function()
        local open, err = package.loadlib(so, "luaopen_" .. name:gsub("%.", "_"))
        if not open then error("cannot load " .. so .. ": " .. tostring(err), 0) end
        return open(name)
      end
    end
  end
end

-- After a failed require: forget the half-loaded modules (sentinels and our
-- preloads), so that the next attempt starts afresh.
local function forget()
  for name, v in pairs(package.loaded) do
    if (name == "memdbg" or name:match("^memdbg%.")) and type(v) ~= "table" then package.loaded[name] = nil end
  end
  for _, name in ipairs(C_MODULES) do
    if type(package.loaded[name]) ~= "table" then package.preload[name] = nil end
  end
end

--- memdbg() -> the memdbg library | nil, message, "ENOMODULE"
function M.memdbg()
  local loaded = package.loaded.memdbg
  if type(loaded) == "table" then return loaded end
  preload_build()
  local ok, mod = pcall(require, "memdbg")
  if ok and type(mod) == "table" then return mod end
  forget()
  local hint
  if M.root and not M.build_dir() then
    hint = "memdbg's C modules are not built for Neovim's LuaJIT: run `make LUA=luajit` in " .. M.root
  else
    hint = "memdbg's C modules cannot be loaded in Neovim's LuaJIT"
  end
  return nil, hint .. ": " .. tostring(mod), "ENOMODULE"
end

--- module(name) -> require(name) once memdbg loads | nil, message, "ENOMODULE"
function M.require(name)
  local lib, err, code = M.memdbg()
  if not lib then return nil, err, code end
  local ok, mod = pcall(require, name)
  if not ok then
    forget()
    return nil, tostring(mod), "ENOMODULE"
  end
  return mod
end

return M
