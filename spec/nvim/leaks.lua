-- luacheck: globals vim
-- A leak hunt through memdbg.nvim.leaks: three snapshots around
-- $MEMDBG_ACTION, then the analysis in a child process. Reports the steps seen,
-- the progress calls and the leak groups. With MEMDBG_CANCEL_STEP=analyse it
-- cancels once the analysis job runs and reports whether the job stopped and
-- the snapshots are gone; MEMDBG_SLOW_ANALYSER=1 makes that job a `sleep 60`
-- so the cancel cannot race a quick analysis.
local B = dofile((os.getenv("MEMDBG_ROOT") or ".") .. "/spec/nvim/boot.lua")
B.run(function()
  local mn = require("memdbg.nvim")
  local action = B.env("MEMDBG_ACTION", "handleRequests(50)")
  local cancel_step = B.env("MEMDBG_CANCEL_STEP")
  local steps, progress, analysed = {}, 0, {}
  local t0 = B.now()
  local handle
  handle = mn.leaks({
    endpoint = B.endpoint,
    action = action,
    onStep = function(step, detail)
      steps[#steps + 1] = detail and (step .. ":" .. tostring(detail)) or step
      if step == cancel_step then
        -- let the analysis job start, then cancel: the job must be stopped
        vim.defer_fn(function()
          local dir, job = handle.dir, handle.job
          local cancelled = handle:cancel()
          local draining = handle.draining
          -- a snapshot in flight drains first; the temporary directory goes
          -- on the main loop once all is released
          local wait = B.uv.new_timer()
          wait:start(20, 20, vim.schedule_wrap(function()
            if not handle.finished or wait:is_closing() then return end
            wait:stop()
            wait:close()
            vim.schedule(function()
              local waited = job and vim.fn.jobwait({ job }, 3000)[1]
              B.finish({ steps = steps, cancelled = cancelled, dirGone = vim.fn.isdirectory(dir) == 0, dir = dir,
                job = job, jobWait = waited, status = handle.status, draining = draining })
            end)
          end))
        end, 300)
      end
    end,
    onProgress = function() progress = progress + 1 end,
    analyser = B.env("MEMDBG_SLOW_ANALYSER") == "1" and { "sh", "-c", "sleep 60", "sh" } or nil,
    onAnalyseProgress = function(pct, total) analysed[#analysed + 1] = pct .. "/" .. total end,
  }, function(report, err, code)
    if cancel_step then return end
    if not report then return B.fail(err, { code = code, steps = steps }) end
    B.finish({ report = report, steps = steps, progress = progress, analysed = analysed, seconds = B.now() - t0,
      driver = handle.stats, lines = mn.format_leaks(report, action) })
  end)
end)
