-- luacheck: globals vim
-- Connecting to an endpoint that accepts the TCP connection and never
-- answers (a listener in this same Neovim that never reads): the driver must
-- keep the loop turning for all of connectTimeout, then fail with ETIMEDOUT.
-- Reports the largest gap between the ticks of a 10 ms timer meanwhile.
local B = dofile((os.getenv("MEMDBG_ROOT") or ".") .. "/spec/nvim/boot.lua")
B.run(function()
  local uv = B.uv
  local server = uv.new_tcp()
  assert(server:bind("127.0.0.1", 0))
  assert(server:listen(8, function() end)) -- never accepts, never answers
  local port = server:getsockname().port
  local last, maxgap, ticks = B.now(), 0, 0
  local timer = uv.new_timer()
  timer:start(10, 10, function()
    local t = B.now()
    maxgap = math.max(maxgap, t - last)
    last, ticks = t, ticks + 1
  end)
  local t0 = B.now()
  local returned
  require("memdbg.nvim").usage({ endpoint = "http://127.0.0.1:" .. port, connectTimeout = 1 }, function(u, err, code)
    timer:stop()
    timer:close()
    server:close()
    B.finish({ ok = u ~= nil, err = err, code = code, seconds = B.now() - t0, maxGapMs = maxgap * 1000,
      ticks = ticks, returnedMs = returned * 1000 })
  end)
  returned = B.now() - t0
end)
