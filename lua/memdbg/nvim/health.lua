-- luacheck: globals vim
-- :checkhealth memdbg: the LuaJIT build of the C modules loads (and with it
-- its transport), JSON, the analyser command for snapshot files, and whether
-- the endpoint answers.
local M = {}

-- vim.health.start/ok/... (0.10+) or the report_* names of 0.7-0.9
local function api()
  local h = vim.health or require("health")
  return {
    start = h.start or h.report_start,
    ok = h.ok or h.report_ok,
    warn = h.warn or h.report_warn,
    error = h.error or h.report_error,
    info = h.info or h.report_info,
  }
end

function M.check()
  local h = api()
  local load = require("memdbg.nvim.load")
  local config = require("memdbg.nvim.config")

  h.start("memdbg: Neovim")
  local v = vim.version()
  local ver = string.format("%d.%d.%d", v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.7") == 1 then h.ok("Neovim " .. ver) else h.error("Neovim " .. ver .. ": memdbg needs 0.7 or later") end
  h.info((jit and jit.version or _VERSION) .. "; " .. ((vim.uv and "vim.uv") or "vim.loop"))

  h.start("memdbg: C modules for LuaJIT")
  h.info("checkout: " .. tostring(load.root))
  local lib, err = load.memdbg()
  if lib then
    local core = require("memdbg._core")
    local where = (package.searchpath and package.searchpath("memdbg._core", package.cpath)) or load.build_dir()
    h.ok("memdbg._core loads" .. (where and (": " .. where) or "") .. (core.version and (" (" .. tostring(
      type(core.version) == "function" and core.version() or core.version) .. ")") or ""))
    local okh, heap = pcall(require, "memdbg._heap")
    if okh and heap then h.ok("memdbg._heap loads (the heap engine)") else h.warn("memdbg._heap: " .. tostring(heap)) end
  else
    h.error(tostring(err), { "run `make LUA=luajit` in " .. tostring(load.root),
      "Debian: apt-get install libluajit-5.1-dev pkg-config gcc make" })
  end
  local okc = pcall(require, "cjson")
  if okc then h.ok("JSON: lua-cjson") else h.ok("JSON: vim.json (lua-cjson for Lua 5.1 is not installed; optional)") end

  h.start("memdbg: analyser for snapshot files")
  local cmd, build, via_nvim = require("memdbg.nvim.job").command({})
  if via_nvim then
    h.ok("Neovim itself runs scripts/memdbg (no luajit or lua5.4 on PATH), MEMDBG_BUILD=" .. build)
  elseif vim.fn.executable(cmd[1]) == 1 then
    h.ok(table.concat(cmd, " ") .. (build and (" (MEMDBG_BUILD=" .. build .. ")") or ""))
  else
    h.error("cannot run " .. cmd[1] .. ": :MemdbgLeaks, :MemdbgSummary, :MemdbgDiff, :MemdbgTop need it",
      { "install luajit (apt-get install luajit) or lua5.4 and build for it (make / make LUA=luajit)" })
  end

  h.start("memdbg: endpoint")
  local ep = config.endpoint()
  h.info("endpoint " .. ep .. (config.target() and (", target " .. config.target()) or "")
    .. " (setup{endpoint=} or g:memdbg_endpoint; :MemdbgTarget picks one)")
  if not lib then return h.warn("not checked: memdbg does not load") end
  local okt, list, terr = pcall(lib.targets, ep, { allowRemote = config.get().allowRemote, timeout = 2 })
  if okt and list then
    h.ok(string.format("%s answers: %d target%s", ep, #list, #list == 1 and "" or "s"))
    for _, t in ipairs(list) do h.info(string.format("%s %s %s", tostring(t.type), tostring(t.id), tostring(t.title or ""))) end
  elseif okt and terr and ep:match("^wss?://") then
    h.info("a ws:// endpoint (Bun) has no target list: " .. tostring(terr))
  else
    h.warn(string.format("%s does not answer: %s", ep, tostring(okt and terr or list)),
      { "start the runtime with its inspector, e.g. node --inspect app.js" })
  end
end

return M
