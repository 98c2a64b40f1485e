-- luacheck: globals vim
-- Quitting Neovim in the middle of :MemdbgSnapshot: the plugin's VimLeavePre
-- cancels, waits for the runtime's snapshot to drain, and only then lets
-- Neovim exit. Writes {quitAt=} to $MEMDBG_OUT before quitting; the spec
-- checks the files and the runtime afterwards.
local B = dofile((os.getenv("MEMDBG_ROOT") or ".") .. "/spec/nvim/boot.lua")
B.run(function()
  vim.g.memdbg_endpoint = B.endpoint
  vim.cmd("runtime plugin/memdbg.lua")
  local path = assert(B.env("MEMDBG_PATH"), "MEMDBG_PATH")
  vim.cmd("MemdbgSnapshot " .. path)
  local t0 = B.now()
  local timer = B.uv.new_timer()
  timer:start(20, 20, vim.schedule_wrap(function()
    if timer:is_closing() then return end
    local size = B.uv.fs_stat(path .. ".partial")
    if not size or size.size < 5000000 then return end
    timer:stop()
    timer:close()
    local f = assert(io.open(B.out, "w"))
    f:write(vim.json.encode({ quitAt = B.now() - t0, bytes = size.size,
      running = #require("memdbg.nvim").running() }))
    f:close()
    vim.cmd("qall!")
  end))
end)
