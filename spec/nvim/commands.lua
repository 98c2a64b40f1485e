-- luacheck: globals vim
-- The user commands end to end: source plugin/memdbg.lua as a user's config
-- would load it, run :MemdbgUsage, :MemdbgSnapshot FILE and :MemdbgLeaks
-- ACTION one after the other against g:memdbg_endpoint, and report what each
-- scratch buffer shows once b:memdbg_status leaves "running".
local B = dofile((os.getenv("MEMDBG_ROOT") or ".") .. "/spec/nvim/boot.lua")
B.run(function()
  vim.g.memdbg_endpoint = B.endpoint
  vim.cmd("runtime plugin/memdbg.lua")
  local path = assert(B.env("MEMDBG_PATH"), "MEMDBG_PATH")
  local action = B.env("MEMDBG_ACTION", "handleRequests(50)")
  local result = { commands = vim.fn.exists(":MemdbgLeaks") == 2 }
  local queue = {
    { "usage", "MemdbgUsage" },
    { "snapshot", "MemdbgSnapshot " .. path },
    { "leaks", "MemdbgLeaks " .. action },
  }
  local function nextcmd(i)
    local item = queue[i]
    if not item then return B.finish(result) end
    vim.cmd(item[2])
    local name = "memdbg://" .. item[1]
    local timer = B.uv.new_timer()
    timer:start(20, 20, vim.schedule_wrap(function()
      if timer:is_closing() then return end -- a tick queued before the stop
      local buf = vim.fn.bufnr(name)
      if buf == -1 then return end
      local status = vim.b[buf].memdbg_status
      if status == "running" then return end
      timer:stop()
      timer:close()
      result[item[1]] = { status = status, lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false),
        visible = vim.fn.bufwinid(buf) ~= -1 }
      nextcmd(i + 1)
    end))
  end
  nextcmd(1)
end)
