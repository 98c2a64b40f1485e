-- luacheck: globals vim
-- The action of a leak hunt (and of sampling or tracking around an action),
-- as the CLI takes it:
--   action = "JS expression"            evaluated in the runtime (awaits a promise)
--   actionCommand = "shell command"     run through sh -c; a non-zero exit fails the hunt
--   actionHttp = { url=, requests=, concurrency=, method=, body= }   HTTP requests from outside
--   duration = seconds                  nothing: the app's own traffic meanwhile
-- The workflows' own command and HTTP actions (workflows/actions.lua) wait in
-- blocking slices, which would hold the editor for the whole action; here the
-- shell command runs as a libuv child process and the requests go out through
-- the same core.httpLoad stepped without waiting, while the task's coroutine
-- services the session through its waiter. Validation is the workflow's
-- (actions.from), so the rules and messages are the CLI's.
local M = {}

local uv = vim.uv or vim.loop

local function tail(s, n) return #s > n and ("..." .. s:sub(-n)) or s end

--- command(cmd, timeout) -> function(session): runs `sh -c cmd` in its own
--- process group, waits for it without blocking; raises with its exit status
--- and stderr tail when it fails (the workflow reports that as EACTION).
--- An interrupted wait (cancel, timeout, a closed session) kills the group.
function M.command(cmd, timeout)
  return function(session)
    local exited, status, signal, errtail = false, nil, nil, ""
    local stderr = uv.new_pipe(false)
    local handle, pid = uv.spawn("sh", { args = { "-c", cmd }, stdio = { nil, nil, stderr }, detached = true },
      function(code, sig) exited, status, signal = true, code, sig end)
    if not handle then
      stderr:close()
      error("cannot start sh -c " .. cmd .. ": " .. tostring(pid), 0)
    end
    stderr:read_start(function(_, data) if data then errtail = (errtail .. data):sub(-4000) end end)
    local function release()
      if not exited then pcall(uv.kill, -pid, "sigterm") end
      if not handle:is_closing() then handle:close() end
      if not stderr:is_closing() then stderr:close() end
    end
    local deadline = timeout and (uv.hrtime() / 1e9 + timeout)
    local ok, err = pcall(function()
      while not exited do
        local okp, perr = session:poll(0.05)
        if not okp then error(perr, 0) end
        if deadline and uv.hrtime() / 1e9 > deadline then
          error(string.format("the action command did not finish in %g s: %s", timeout, cmd), 0)
        end
      end
    end)
    release()
    if not ok then error(err, 0) end
    if status ~= 0 or (signal or 0) ~= 0 then
      error(string.format("the action command exited with status %d%s: %s%s", status or -1,
        (signal or 0) ~= 0 and (" (signal " .. signal .. ")") or "", cmd,
        errtail ~= "" and ("\n" .. tail(vim.trim(errtail), 1000)) or ""), 0)
    end
    return true
  end
end

--- http(spec, allowRemote, timeout) -> function(session): sends the requests
--- of actionHttp = spec (actions.from's rules: loopback unless allowRemote),
--- stepping core.httpLoad without blocking between session:poll slices;
--- raises when none is answered or past timeout.
function M.http(spec, allowRemote, timeout)
  return function(session)
    local actions = require("memdbg.workflows.actions")
    local core = require("memdbg._core")
    local act, aerr = actions.from({ actionHttp = spec, allowRemote = allowRemote })
    if not act then error(aerr, 0) end
    local load, err = core.httpLoad { host = act.host, port = act.port, path = act.path, method = act.method,
      body = act.body, contentType = act.contentType, hostHeader = act.hostHeader, requests = act.requests,
      concurrency = act.concurrency }
    if not load then error("the action's URL " .. act.url .. ": " .. tostring(err), 0) end
    if not act.allowRemote and not core.isLoopback(load:address()) then
      load:close()
      error(string.format("the action's URL %s resolves to %s, which is not loopback (allowRemote)", act.url,
        tostring(load:address())), 0)
    end
    timeout = timeout or actions.DEFAULT_TIMEOUT
    local t0 = uv.hrtime() / 1e9
    local ok, perr = pcall(function()
      while not load:step(0) do
        local okp, e = session:poll(0.005)
        if not okp then error(e, 0) end
        if uv.hrtime() / 1e9 - t0 > timeout then
          error(string.format("the HTTP action did not finish within %g s", timeout), 0)
        end
      end
    end)
    local r = load:result()
    load:close()
    if not ok then error(perr, 0) end
    local answered = 0
    for _, n in pairs(r.statuses or {}) do answered = answered + n end
    if answered == 0 then
      error(string.format("none of the %d requests to %s got an answer (%s)", act.requests, act.url,
        tostring(r.firstError)), 0)
    end
    return true
  end
end

--- resolve(opts, who) -> { workflow = fn(session, task) -> options for the
--- workflow, fn = fn(session, task) -> action (string or function) }
--- Exactly one of action, actionCommand, actionHttp; a mistake raises.
function M.resolve(opts, who)
  local kinds = {}
  for _, k in ipairs({ "action", "actionCommand", "actionHttp", "duration" }) do
    if opts[k] ~= nil then kinds[#kinds + 1] = k end
  end
  if #kinds ~= 1 then
    error(who .. ": give one of action (a JavaScript expression), actionCommand (a shell command), "
      .. "actionHttp ({url=, requests=}) or duration (seconds)"
      .. (#kinds > 1 and (", not " .. table.concat(kinds, " and ")) or ""), 3)
  end
  local kind = kinds[1]
  local v = opts[kind]
  if kind == "action" and (type(v) ~= "string" or v == "") and type(v) ~= "function" then
    error(who .. ": action must be a JavaScript expression (e.g. \"handleRequests(100)\")", 3)
  elseif kind == "actionCommand" and (type(v) ~= "string" or v == "") then
    error(who .. ": actionCommand must be a shell command", 3)
  elseif kind == "actionHttp" and (type(v) ~= "table" or type(v.url) ~= "string") then
    error(who .. ": actionHttp must be a table {url=, requests=, concurrency=, method=, body=}", 3)
  elseif kind == "duration" and (type(v) ~= "number" or v <= 0) then
    error(who .. ": duration must be a positive number of seconds", 3)
  end
  local r = {}
  function r.fn()
    if kind == "actionCommand" then return M.command(v, opts.actionTimeout) end
    if kind == "actionHttp" then return M.http(v, opts.allowRemote, opts.actionTimeout) end
    if kind == "duration" then
      return function(session)
        local deadline = uv.hrtime() / 1e9 + v
        while uv.hrtime() / 1e9 < deadline do
          local ok, err = session:poll(math.min(0.25, math.max(0, deadline - uv.hrtime() / 1e9)))
          if not ok then error(err, 0) end
        end
        return true
      end
    end
    return v
  end
  -- options for detect_leak.run: the action as above
  function r.workflow()
    return { action = r.fn(), actionTimeout = opts.actionTimeout, allowRemote = opts.allowRemote }
  end
  return r
end

return M
