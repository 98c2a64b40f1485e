-- luacheck: globals vim
-- The user commands end to end, as a user runs them in one Neovim: each
-- command of $MEMDBG_STEPS (comma-separated names from the table below) runs
-- against g:memdbg_endpoint, and once its results buffer leaves "running"
-- the script records its lines, the quickfix list, where the cursor is (the
-- user's window, never a memdbg one) and the steps' own checks.
-- Env: MEMDBG_PATH (snapshot file), MEMDBG_DIR (scratch dir), MEMDBG_ACTION.
local B = dofile((os.getenv("MEMDBG_ROOT") or ".") .. "/spec/nvim/boot.lua")
B.run(function()
  vim.g.memdbg_endpoint = B.endpoint
  local path = assert(B.env("MEMDBG_PATH"), "MEMDBG_PATH")
  local dir = assert(B.env("MEMDBG_DIR"), "MEMDBG_DIR")
  local action = B.env("MEMDBG_ACTION", "handleRequests(20)")
  -- the user's own window and buffer, which must keep the focus throughout
  vim.cmd("edit " .. vim.fn.fnameescape(dir .. "/user.txt"))
  local user_win, user_buf = vim.api.nvim_get_current_win(), vim.api.nvim_get_current_buf()
  -- global state before anything runs: Lua globals and g: variables (Neovim's
  -- own filetype plugins set g: variables of theirs when a file opens: off)
  vim.cmd("filetype plugin indent off")
  local globals, gvars = {}, vim.api.nvim_eval("keys(g:)")
  for k in pairs(_G) do globals[k] = true end
  local result = { defined = {}, steps = {} }
  B.partial = result -- what the watchdog reports
  for _, c in ipairs({ "MemdbgUsage", "MemdbgSnapshot", "MemdbgLeaks", "MemdbgSample", "MemdbgTrack", "MemdbgVerify",
    "MemdbgMonitor", "MemdbgSummary", "MemdbgDiff", "MemdbgTop", "MemdbgRetainers", "MemdbgTarget", "MemdbgResults",
    "MemdbgCancel" }) do
    result.defined[c] = vim.fn.exists(":" .. c) == 2
  end

  local function lines(kind)
    local b = vim.fn.bufnr("memdbg://" .. kind)
    return b ~= -1 and vim.api.nvim_buf_get_lines(b, 0, -1, false) or {}
  end
  local function status(kind)
    local b = vim.fn.bufnr("memdbg://" .. kind)
    return b ~= -1 and vim.b[b].memdbg_status or nil
  end
  -- runs fn in the results window of kind (the way a user's keys would)
  local function in_results(kind, fn)
    local win = vim.fn.bufwinid(vim.fn.bufnr("memdbg://" .. kind))
    assert(win ~= -1, kind .. " results are not shown")
    vim.api.nvim_set_current_win(win)
    fn(win)
  end

  local steps = {
    usage = { "MemdbgUsage" },
    snapshot = { "MemdbgSnapshot " .. path },
    -- FILE! is --force: a file memdbg did not create is replaced, a new file
    -- (a hard link to the old one keeps its data)
    snapshotforce = { kind = "snapshot", run = function()
      local f = assert(io.open(dir .. "/theirs.heapsnapshot", "w"))
      f:write("theirs\n")
      f:close()
      assert(vim.fn.system({ "ln", dir .. "/theirs.heapsnapshot", dir .. "/theirs-link" }) and vim.v.shell_error == 0)
      vim.cmd("MemdbgSnapshot! " .. dir .. "/theirs.heapsnapshot")
    end, check = function(r)
      local function head(p)
        local g = io.open(p, "rb")
        local t = g and g:read(13)
        if g then g:close() end
        return t
      end
      r.replaced = head(dir .. "/theirs.heapsnapshot") == '{"snapshot":{'
      r.linkKept = head(dir .. "/theirs-link") == "theirs\n"
    end },
    leaks = { "MemdbgLeaks --dir " .. dir .. "/leaks " .. action },
    leakscmd = { "MemdbgLeaks --action-cmd touch " .. dir .. "/ran && echo fine", kind = "leaks",
      check = function(r) r.ran = vim.fn.filereadable(dir .. "/ran") == 1 end },
    leakshttp = { "MemdbgLeaks --dir " .. dir .. "/leakshttp --action-http " .. B.env("MEMDBG_HTTP", "http://127.0.0.1:1/")
      .. " --requests 2", kind = "leaks" },
    leakssampling = { "MemdbgLeaks --sampling --sampling-interval 4096 " .. action, kind = "leaks" },
    leakscurl = { "MemdbgLeaks --dir " .. dir .. "/leaks --action-cmd " .. B.env("MEMDBG_CURL", "true") .. " >/dev/null",
      kind = "leaks" },
    -- the CI gate's options: the first group of the `leaks` step is known (its
    -- signature in an ignore file), so it stays in the results, marked, and
    -- leaves the quickfix list
    leaksignore = { kind = "leaks", run = function(r)
      r.known = {}
      for _, l in ipairs(lines("leaks")) do
        local sig = l:match("^    signature (%S+)")
        if sig then r.known[#r.known + 1] = sig end
      end
      local f = assert(io.open(dir .. "/known.txt", "w"))
      f:write("# known leaks\n", table.concat(r.known, "\n"), "\n")
      f:close()
      vim.cmd("MemdbgLeaks --dir " .. dir .. "/gate --ignore " .. dir .. "/known.txt " .. action)
    end, check = function(r)
      -- each group: its header's marks and its signature
      r.groups = {}
      for _, l in ipairs(lines("leaks")) do
        if l:match("^%d+%. ") then
          r.groups[#r.groups + 1] = { known = l:find("(known: in the ignore file)", 1, true) ~= nil,
            internal = l:find("(runtime-internal)", 1, true) ~= nil }
        end
        local sig = l:match("^    signature (%S+)")
        if sig and #r.groups > 0 then r.groups[#r.groups].signature = sig end
      end
    end },
    -- every group grew by the action's count: --max-growth one more lets them all through
    leaksgrowth = { "MemdbgLeaks --max-growth " .. (tonumber(action:match("%((%d+)%)")) or 20) + 1 .. " " .. action,
      kind = "leaks", check = function()
        -- its own temporary directory stays when a group still counts: not in /tmp after the spec
        for _, l in ipairs(lines("leaks")) do
          local d = l:match("^  (/.*/memdbg%-leaks%-[^/]+)/1%-baseline")
          if d then vim.fn.delete(d, "rf") end
        end
      end },
    -- bad arguments: one message each, no Lua traceback, nothing started
    badargs = { kind = "none", run = function(r)
      local fifo = dir .. "/fifo"
      assert(vim.fn.system({ "mkfifo", fifo }) and vim.v.shell_error == 0)
      local exists = dir .. "/exists.heapsnapshot"
      local f = assert(io.open(exists, "w"))
      f:write("mine\n")
      f:close()
      local notify = vim.notify
      r.messages = {}
      local running = #require("memdbg.nvim").running()
      for _, c in ipairs({ "MemdbgLeaks --ignore " .. dir .. "/nonexistent " .. action,
        "MemdbgLeaks --ignore " .. fifo .. " " .. action,
        "MemdbgLeaks --max-growth -1 " .. action,
        "MemdbgLeaks --sampling --max-growth 5 " .. action,
        "MemdbgLeaks --top -3 " .. action,
        "MemdbgLeaks --gc-rounds 0 " .. action,
        "MemdbgLeaks --action " .. action .. " --action-cmd true",
        "MemdbgLeaks --requests 5 " .. action,
        "MemdbgLeaks --action-http notaurl",
        "MemdbgLeaks --duration -1",
        "MemdbgSnapshot " .. exists,
        "MemdbgTrack --out " .. exists .. " 1",
        "MemdbgSample -5",
        "MemdbgSample --interval 0 1",
        "MemdbgMonitor 0",
        "MemdbgMonitor --threshold 150",
        "MemdbgVerify --allocate x() --cleanup y() --tolerance -1",
        "MemdbgTop " .. exists .. " --n abc",
        "MemdbgResults nosuch" }) do
        local got = {}
        vim.notify = function(m) got[#got + 1] = tostring(m) end
        local ok, e = pcall(vim.cmd, c)
        vim.notify = notify
        if not ok then got[#got + 1] = "vim error: " .. tostring(e) end
        r.messages[#r.messages + 1] = { command = c, said = got }
      end
      r.started = #require("memdbg.nvim").running() - running
      local g = io.open(exists)
      r.untouched = g:read("*a") == "mine\n"
      g:close()
    end, wait = function() return true end },
    leaksfail = { "MemdbgLeaks --action-cmd echo oops-from-the-command >&2; exit 3", kind = "leaks" },
    sample = { "MemdbgSample --interval 4096 --action " .. action },
    sampletime = { "MemdbgSample 0.5", kind = "sample" },
    track = { "MemdbgTrack --action " .. action .. " --out " .. dir .. "/track.heapsnapshot",
      check = function(r)
        -- <CR> on the first located line opens the source in the user's window
        in_results("track", function()
          local row
          for i, l in ipairs(lines("track")) do
            if l:match("%.js:%d+") and not row then row = i end
          end
          r.jumpRow = row
          vim.api.nvim_win_set_cursor(0, { row, 0 })
          vim.cmd("normal \r")
          r.jumped = { file = vim.fn.expand("%:t"), line = vim.fn.line("."), win = vim.api.nvim_get_current_win() }
          vim.api.nvim_set_current_win(user_win)
          vim.api.nvim_set_current_buf(user_buf)
        end)
      end },
    verify = { "MemdbgVerify --allocate allocate(5) --cleanup release()" },
    summary = { "MemdbgSummary " .. path },
    diff = { "MemdbgDiff " .. path .. " " .. dir .. "/track.heapsnapshot" },
    top = { "MemdbgTop " .. path .. " --n 5" },
    retainers = { kind = "retainers", run = function()
      -- r on the first object of the top list
      in_results("top", function()
        vim.api.nvim_win_set_cursor(0, { 4, 0 })
        vim.cmd("normal r")
        vim.api.nvim_set_current_win(user_win)
      end)
    end },
    leaksr = { kind = "retainers", run = function()
      -- r on the first leak group: the retainer path of its example object
      in_results("leaks", function()
        for i, l in ipairs(lines("leaks")) do
          if l:match("^1%. ") then vim.api.nvim_win_set_cursor(0, { i, 0 }) break end
        end
        vim.cmd("normal r")
        vim.api.nvim_set_current_win(user_win)
      end)
    end },
    close = { run = function(r)
      in_results("top", function() vim.cmd("normal q") end)
      r.topClosed = vim.fn.bufwinid(vim.fn.bufnr("memdbg://top")) == -1
      vim.api.nvim_set_current_win(user_win)
    end, wait = function() return true end },
    monitor = { "MemdbgMonitor 0.2", wait = function()
      local l = lines("monitor")
      return #l >= 6
    end, check = function(r)
      r.statusline = require("memdbg.nvim").status()
      vim.cmd("MemdbgMonitor stop")
      r.after = status("monitor")
    end },
    target = { run = function(r)
      -- a UI plugin's vim.ui.select; this one picks the first target
      vim.ui.select = function(items, opts, on_choice)
        r.items, r.prompt = #items, opts.prompt
        r.label = opts.format_item(items[1])
        on_choice(items[1], 1)
      end
      vim.g.memdbg_endpoint = nil
      vim.cmd("MemdbgTarget " .. B.endpoint)
    end, wait = function() return vim.g.memdbg_target ~= nil end, check = function(r)
      r.target, r.endpoint = vim.g.memdbg_target, vim.g.memdbg_endpoint
    end },
  }

  local order = vim.split(B.env("MEMDBG_STEPS", "usage,snapshot,leaks"), ",")
  local function nextstep(i)
    local name = order[i]
    if not name then
      result.focus = { win = vim.api.nvim_get_current_win() == user_win, buf = vim.api.nvim_get_current_buf() == user_buf }
      result.newGlobals, result.newGVars = {}, {}
      for k in pairs(_G) do
        if not globals[k] then result.newGlobals[#result.newGlobals + 1] = tostring(k) end
      end
      local had = {}
      for _, k in ipairs(gvars) do had[k] = true end
      for _, k in ipairs(vim.api.nvim_eval("keys(g:)")) do
        if not had[k] then result.newGVars[#result.newGVars + 1] = k end
      end
      return B.finish(result)
    end
    local s = assert(steps[name], "no step " .. name)
    local kind = s.kind or name
    local r = {}
    result.steps[name] = r
    local before = status(kind)
    if s.run then s.run(r) else vim.cmd(s[1]) end
    r.floatWhileRunning = require("memdbg.nvim.progress").window() ~= nil
    local t0 = B.now()
    local timer = B.uv.new_timer()
    timer:start(20, 20, vim.schedule_wrap(function()
      if timer:is_closing() then return end
      local st = status(kind)
      local ready
      if s.wait then ready = s.wait() else ready = st ~= nil and st ~= "running" and (st ~= before or B.now() - t0 > 0.5) end
      if not ready then return end
      timer:stop()
      timer:close()
      r.status, r.lines, r.seconds = status(kind), lines(kind), B.now() - t0
      r.visible = vim.fn.bufwinid(vim.fn.bufnr("memdbg://" .. kind)) ~= -1
      r.focusKept = vim.api.nvim_get_current_win() == user_win
      local qf = vim.fn.getqflist({ title = 1, items = 1 })
      r.qf = { title = qf.title, count = #qf.items, valid = 0, first = qf.items[2] and qf.items[2].text }
      -- entry 1 is the report itself (line 1 of the results buffer): count the located ones after it
      r.qf.report = qf.items[1] and vim.fn.bufname(qf.items[1].bufnr) or nil
      for n, it in ipairs(qf.items) do
        if n > 1 and it.valid == 1 then
          r.qf.valid = r.qf.valid + 1
          r.qf.firstValid = r.qf.firstValid or { file = vim.fn.bufname(it.bufnr), line = it.lnum, text = it.text }
        end
      end
      if s.check then s.check(r) end
      nextstep(i + 1)
    end))
  end
  -- statusline component and completion, before anything runs
  result.idleStatus = require("memdbg.nvim").status()
  result.complete = {
    options = vim.fn.getcompletion("MemdbgLeaks --act", "cmdline"),
    endpoint = vim.fn.getcompletion("MemdbgUsage --endpoint ", "cmdline"),
    seconds = vim.fn.getcompletion("MemdbgSample ", "cmdline"),
    monitor = vim.fn.getcompletion("MemdbgMonitor s", "cmdline"),
  }
  nextstep(1)
end)
