-- luacheck: globals vim
-- Run after a user's own init.lua (a documented setup from docs/neovim.md,
-- in a fresh $HOME): checks what a new user would try first. Does not load
-- boot.lua's path handling, since there is none: it writes its result itself.
--   :MemdbgUsage --endpoint $MEMDBG_ENDPOINT   (the C modules load in Neovim's LuaJIT)
--   :help memdbg, :checkhealth memdbg
-- With MEMDBG_BEFORE_MAKE=DIR: the checkout at DIR has no build yet; the
-- first usage must fail with the hint to run make, and once DIR/build/luajit
-- appears (linked here to the checkout's build, as `make LUA=luajit` would
-- create it) the next one must work in the same Neovim.
local out = assert(os.getenv("MEMDBG_OUT"))
local endpoint = assert(os.getenv("MEMDBG_ENDPOINT"))
local before_make = os.getenv("MEMDBG_BEFORE_MAKE")
local uv = vim.uv or vim.loop
local r = {
  loaded = vim.g.loaded_memdbg == 1,
  commands = vim.fn.exists(":MemdbgLeaks") == 2,
  cpathTouched = package.cpath:find("memdbg", 1, true) ~= nil,
  pathTouched = package.path:find("memdbg", 1, true) ~= nil,
  endpoint = require("memdbg.nvim.config").get().endpoint,
}

local function finish()
  r.cpathAfter = package.cpath:find("memdbg", 1, true) ~= nil
  local f = assert(io.open(out, "w"))
  f:write(vim.json.encode(r))
  f:close()
  vim.cmd("qall!")
end

local function usage(cb)
  local mn = require("memdbg.nvim")
  mn.usage({ endpoint = endpoint }, function(u, err, code) cb({ used = u and u.usedSize, err = err, code = code }) end)
end

local function help_and_health()
  local ok, err = pcall(vim.cmd, "help memdbg")
  r.help = ok and vim.fn.expand("%:t") or tostring(err)
  r.helpLine = ok and vim.fn.getline(".") or nil
  vim.cmd("close")
  vim.g.memdbg_endpoint = endpoint
  vim.cmd("checkhealth memdbg")
  r.health = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  finish()
end

vim.defer_fn(function()
  local timer = uv.new_timer()
  timer:start(10000, 0, vim.schedule_wrap(function() r.error = "timeout" finish() end))
  usage(function(first)
    r.first = first
    if not before_make then
      -- the command a user types
      vim.cmd("MemdbgUsage --endpoint " .. endpoint)
      local poll = uv.new_timer()
      poll:start(20, 20, vim.schedule_wrap(function()
        local b = vim.fn.bufnr("memdbg://usage")
        if poll:is_closing() or b == -1 or vim.b[b].memdbg_status == "running" then return end
        poll:stop()
        poll:close()
        r.command = { status = vim.b[b].memdbg_status, lines = vim.api.nvim_buf_get_lines(b, 0, -1, false) }
        help_and_health()
      end))
      return
    end
    -- what `make LUA=luajit` leaves behind: DIR/build/luajit (a link to the real build here)
    vim.fn.mkdir(before_make .. "/build", "p")
    assert(uv.fs_symlink(assert(os.getenv("MEMDBG_ROOT")) .. "/build/luajit", before_make .. "/build/luajit"))
    vim.schedule(function()
      usage(function(second)
        r.second = second
        finish()
      end)
    end)
  end)
end, 50)
