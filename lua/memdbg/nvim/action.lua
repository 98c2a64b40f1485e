-- luacheck: globals vim
-- The action of a leak hunt (and of sampling or tracking around an action),
-- as the CLI takes it:
--   action = "JS expression"            evaluated in the runtime (awaits a promise)
--   actionCommand = "shell command"     run through sh -c; a non-zero exit fails the hunt
--   actionHttp = { url=, requests=, concurrency=, method=, body= }   HTTP requests from outside
--   duration = seconds                  nothing: the app's own traffic meanwhile
-- HTTP requests and durations run through the workflows' own actions.run,
-- with a wait that yields to the editor's loop (the task's coroutine services
-- the session through its waiter meanwhile); their validation is
-- actions.from's, so the rules and messages are the CLI's. A shell command
-- runs here as a libuv child process: the workflows' core.spawn forwards the
-- command's output to this process's stderr, which in Neovim is the screen.
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

-- wait for actions.run: one slice of the session's poll, which yields to
-- the loop through the driver's waiter (a closed session ends the action).
local function yielding(session)
  return function(seconds)
    local ok, err = session:poll(seconds)
    if not ok then error(err, 0) end
  end
end

--- run(act, timeout) -> function(session): the workflows' own action
--- (actions.run: HTTP requests, a duration of the app's traffic), waiting
--- through the driver; raises its failure (the workflow reports EACTION).
function M.run(act, timeout)
  return function(session)
    local actions = require("memdbg.workflows.actions")
    local r, err = actions.run(session, act, { timeout = timeout, wait = yielding(session) })
    if not r then error(err, 0) end
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
  elseif kind == "actionCommand" and (type(v) ~= "string" or v:match("^%s*$")) then
    error(who .. ": actionCommand must be a shell command", 3)
  end
  -- HTTP requests and durations: the workflows' rules and messages
  local act
  if kind == "actionHttp" or kind == "duration" then
    -- through memdbg.nvim.load: memdbg.workflows.actions needs the C core, which only it finds
    local actions, lerr = require("memdbg.nvim.load").require("memdbg.workflows.actions")
    if not actions then error(who .. ": " .. lerr, 3) end
    local aerr
    act, aerr = actions.from({ [kind] = v, allowRemote = opts.allowRemote })
    if not act then error(who .. ": " .. aerr, 3) end
  end
  local r = {}
  function r.fn()
    if kind == "actionCommand" then return M.command(v, opts.actionTimeout) end
    if act then return M.run(act, opts.actionTimeout) end
    return v
  end
  -- options for detect_leak.run: the action as above
  function r.workflow()
    return { action = r.fn(), actionTimeout = opts.actionTimeout, allowRemote = opts.allowRemote }
  end
  return r
end

return M
