-- luacheck: globals vim
-- A heap snapshot through memdbg.nvim.snapshot while a 10 ms timer runs in
-- the same Neovim: reports the progress calls, the bytes, and the largest gap
-- between timer ticks while the snapshot was in flight (both a libuv timer and
-- a Vim timer, which needs the main loop to process its event queue).
-- Env: MEMDBG_PATH (the snapshot file), MEMDBG_CANCEL_AFTER (bytes: cancel
-- once that many arrived, then take heap usage on a new session).
local B = dofile((os.getenv("MEMDBG_ROOT") or ".") .. "/spec/nvim/boot.lua")
B.run(function()
  local uv = B.uv
  local mn = require("memdbg.nvim")
  local path = assert(B.env("MEMDBG_PATH"), "MEMDBG_PATH")
  local cancel_after = tonumber(B.env("MEMDBG_CANCEL_AFTER", ""))

  local inflight = false
  local ticks = { uv = 0, vim = 0 }
  local maxgap = { uv = 0, vim = 0 }
  local last = {}
  local slow = {} -- gaps over 30 ms, for the report
  local progress, t0
  -- Time this thread sat runnable on a run queue (Linux schedstat, ns): on a
  -- loaded machine a gap is partly the scheduler's, not the editor's.
  local function run_delay()
    local f = io.open("/proc/thread-self/schedstat", "r")
    if not f then return 0 end
    local s = f:read("*l") or ""
    f:close()
    return (tonumber(s:match("^%d+ (%d+)")) or 0) / 1e9
  end
  local lastDelay = {}
  local maxOwn = { uv = 0, vim = 0 } -- the gap less the run-queue wait inside it
  local function tick(kind)
    local t = B.now()
    local d = run_delay()
    if inflight then
      ticks[kind] = ticks[kind] + 1
      if last[kind] then
        local gap = t - last[kind]
        local own = gap - (d - (lastDelay[kind] or d))
        if own > maxOwn[kind] then maxOwn[kind] = own end
        if gap > maxgap[kind] then maxgap[kind] = gap end
        if gap > 0.03 then
          slow[#slow + 1] = string.format("%s %.0f ms at +%.3f s (%d bytes)", kind, gap * 1000, t - t0,
            progress.lastBytes)
        end
      end
    end
    last[kind] = t
    lastDelay[kind] = d
  end
  local timer = uv.new_timer()
  timer:start(10, 10, function() tick("uv") end)
  local vtimer = vim.fn.timer_start(10, function() tick("vim") end, { ["repeat"] = -1 })

  progress = { calls = 0, first = nil, last = nil, bytesCalls = 0, lastBytes = 0 }
  local handle
  local function done(info, err, code)
    inflight = false
    timer:stop()
    timer:close()
    vim.fn.timer_stop(vtimer)
    local r = {
      info = info, err = err, code = code,
      seconds = B.now() - t0,
      progress = progress,
      ticks = ticks,
      maxGapMs = { uv = maxgap.uv * 1000, vim = maxgap.vim * 1000 },
      slowTicks = slow,
      maxOwnGapMs = { uv = maxOwn.uv * 1000, vim = maxOwn.vim * 1000 },
      driver = handle.stats,
      handleDone = handle:isDone(),
      fileExists = vim.fn.filereadable(path) == 1,
      partialExists = vim.fn.filereadable(path .. ".partial") == 1,
      cancelReturned = handle.cancel and nil,
    }
    if cancel_after then
      -- the editor and the runtime are still usable after a cancel, while the
      -- cancelled snapshot drains in the background
      r.cancelAgain = handle:cancel()
      r.drainingAtCallback = handle.draining
      local cancelled_at = B.now()
      local delay = tonumber(B.env("MEMDBG_USAGE_DELAY", "0"))
      vim.defer_fn(function() mn.usage({ endpoint = B.endpoint }, function(usage, uerr)
        r.usageAfter = usage
        r.usageAfterErr = uerr
        -- quit only once the drain is over and the session closed: leaving
        -- earlier would drop the connection under the runtime's feet
        local wait = B.uv.new_timer()
        wait:start(20, 20, vim.schedule_wrap(function()
          if not handle.finished or wait:is_closing() then return end
          wait:stop()
          wait:close()
          r.drainSeconds = B.now() - cancelled_at
          r.fileExists = vim.fn.filereadable(path) == 1
          r.partialExists = vim.fn.filereadable(path .. ".partial") == 1
          B.finish(r)
        end))
      end) end, delay)
    else
      B.finish(r)
    end
  end

  -- start once the timers have ticked a few times, so gaps are measured from a running loop
  vim.defer_fn(function()
    t0 = B.now()
    inflight = true
    last, lastDelay = {}, {}
    handle = mn.snapshot({
      endpoint = B.endpoint,
      path = path,
      onProgress = function(d, total)
        progress.calls = progress.calls + 1
        progress.first = progress.first or { d, total }
        progress.last = { d, total }
      end,
      onBytes = function(bytes)
        progress.bytesCalls = progress.bytesCalls + 1
        progress.lastBytes = bytes
        if cancel_after and bytes >= cancel_after and not handle:isDone() then
          progress.cancelledAt = bytes
          progress.cancelResult = handle:cancel()
        end
      end,
    }, done)
    progress.returnedMs = (B.now() - t0) * 1000
  end, 100)
end)
