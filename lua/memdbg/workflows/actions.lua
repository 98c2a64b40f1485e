-- The actions a leak hunt repeats: a JavaScript expression evaluated in the
-- target, a Lua function, a shell command (`--action-cmd`: a curl loop, an e2e
-- suite) or HTTP requests that memdbg sends itself (`--action-http`).
--   local actions = require "memdbg.workflows.actions"
--   local act = assert(actions.from(opts))      -- opts.action | actionCommand | actionHttp
--   local r, err, code = actions.run(session, act, { timeout = 300 })
--   -- r = {kind=, seconds=, exitCode= | statuses={["200"]=n}, errors=, requests=, connections=}
-- Failures: nil, message, code: "EACTION" (the command exited non-zero, every
-- request failed, the expression threw: "EEXCEPTION"), "ETIMEDOUT" (past
-- timeout), "ECLOSED" (the action ended the runtime).
local core = require("memdbg._core")
local steps = require("memdbg.workflows.steps")
local files = require("memdbg.util.files")

local actions = {}

actions.DEFAULT_TIMEOUT = 300
actions.DEFAULT_REQUESTS = 100
actions.DEFAULT_CONCURRENCY = 8

local KILL_GRACE = 2 -- seconds between SIGTERM and SIGKILL to a command's process group
local SETTLE = 0.1 -- seconds after the last HTTP response for the server to see the connections close

--- parse_url("http://127.0.0.1:8080/work?n=1") -> {host=, port=, path=, hostHeader=} | nil, msg
function actions.parse_url(url)
  if type(url) ~= "string" or url == "" then return nil, "the URL is empty" end
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil, "'" .. url .. "' is not an http:// URL" end
  if scheme:lower() ~= "http" then
    return nil, "'" .. url .. "': only http:// is supported (memdbg sends plain HTTP/1.1 to the app)"
  end
  local authority, path = rest:match("^([^/?#]*)(.*)$")
  if path == "" or path:sub(1, 1) ~= "/" then path = "/" .. path end
  path = path:gsub("#.*$", "")
  if authority:find("@", 1, true) then return nil, "'" .. url .. "': user information in the URL is not supported" end
  local host, port = authority:match("^%[([%x:.]+)%]:?(.*)$")
  if not host then host, port = authority:match("^([^:]+):?(.*)$") end
  if not host or host == "" then return nil, "'" .. url .. "' has no host" end
  if port == "" and authority:sub(-1) ~= ":" then
    port = 80
  else
    port = port:match("^%d+$") and tonumber(port)
    if not port or port < 1 or port > 65535 then return nil, "'" .. url .. "' has a bad port" end
  end
  local hostHeader = (host:find(":", 1, true) and "[" .. host .. "]" or host) .. (port ~= 80 and ":" .. port or "")
  return { host = host, port = port, path = path, hostHeader = hostHeader, url = url }
end

-- the transport's loopback rule, on the address the host resolved to
local function is_loopback_address(a)
  return core.isLoopback(a)
end

local function positive_int(v)
  return type(v) == "number" and v >= 1 and v == math.floor(v) and v < 2 ^ 31
end

--- from(opts) -> action | nil, message: exactly one of opts.action (Lua function
--- or JavaScript expression), opts.actionCommand (shell command) or
--- opts.actionHttp = {url, requests=100, concurrency=8, method="GET", body=,
--- contentType=}; opts.allowRemote lets actionHttp reach a non-loopback host.
function actions.from(opts)
  local given = {}
  if opts.action ~= nil then given[#given + 1] = "action" end
  if opts.actionCommand ~= nil then given[#given + 1] = "actionCommand" end
  if opts.actionHttp ~= nil then given[#given + 1] = "actionHttp" end
  if opts.duration ~= nil then given[#given + 1] = "duration" end
  if #given == 0 then
    return nil, "an action is needed: action (expression or function), actionCommand, actionHttp or duration"
  end
  if #given > 1 then return nil, "give one action, not " .. table.concat(given, " and ") end
  if opts.action ~= nil then
    if type(opts.action) == "function" then return { kind = "function", fn = opts.action } end
    if type(opts.action) == "string" and opts.action ~= "" then return { kind = "expression", expr = opts.action } end
    return nil, "action must be a Lua function or a JavaScript expression"
  end
  if opts.duration ~= nil then
    if type(opts.duration) ~= "number" or opts.duration ~= opts.duration or opts.duration <= 0 then
      return nil, "duration must be a positive number of seconds"
    end
    return { kind = "wait", seconds = opts.duration }
  end
  if opts.actionCommand ~= nil then
    if type(opts.actionCommand) ~= "string" or opts.actionCommand:match("^%s*$") then
      return nil, "actionCommand must be a shell command"
    end
    return { kind = "command", command = opts.actionCommand }
  end
  local h = opts.actionHttp
  if type(h) == "string" then h = { url = h } end
  if type(h) ~= "table" then return nil, "actionHttp must be a URL or a table {url=, requests=, concurrency=, ...}" end
  local u, err = actions.parse_url(h.url or h[1])
  if not u then return nil, "actionHttp: " .. err end
  local requests = h.requests == nil and actions.DEFAULT_REQUESTS or h.requests
  local concurrency = h.concurrency == nil and actions.DEFAULT_CONCURRENCY or h.concurrency
  if not positive_int(requests) then return nil, "actionHttp: requests must be a whole number of at least 1" end
  if not positive_int(concurrency) or concurrency > 256 then
    return nil, "actionHttp: concurrency must be a whole number from 1 to 256"
  end
  local method = h.method or (h.body and "POST" or "GET")
  if type(method) ~= "string" or not method:match("^[%u]+$") then
    return nil, "actionHttp: method must be an HTTP method in capitals (GET, POST, ...)"
  end
  if h.body ~= nil and type(h.body) ~= "string" then return nil, "actionHttp: body must be a string" end
  local ctype = h.contentType
  if h.body and not ctype then
    -- like curl --data: form-encoded, unless it reads as JSON
    ctype = h.body:match("^%s*[%[{]") and "application/json" or "application/x-www-form-urlencoded"
  end
  return { kind = "http", url = u.url, host = u.host, port = u.port, path = u.path, hostHeader = u.hostHeader,
    requests = requests, concurrency = concurrency, method = method, body = h.body, contentType = ctype,
    allowRemote = opts.allowRemote and true or false }
end

--- describe(action) -> one line for progress and reports
function actions.describe(act)
  if act.kind == "expression" then return act.expr end
  if act.kind == "command" then return "sh -c " .. files.quote(act.command) end
  if act.kind == "http" then
    return string.format("%d x %s %s (%d connections)", act.requests, act.method, act.url, act.concurrency)
  end
  if act.kind == "wait" then return string.format("%g s of the app's own traffic", act.seconds) end
  return "a Lua function"
end

-- A loop that waits in slices, so that Ctrl-C ("interrupted!") and the
-- deadline are noticed; cleanup(how) runs on every way out.
local function timed_out(timeout, what)
  return string.format("%s did not finish within %g s (--action-timeout / actionTimeout)", what, timeout)
end

local function tail_lines(text, n)
  local lines = {}
  for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
  local from = math.max(1, #lines - n + 1)
  return table.concat(lines, "\n", from)
end

local function run_command(act, timeout)
  local command = act.command
  -- `make check`'s sanitizer pass preloads libasan into the interpreter; the
  -- user's command (curl hangs under it) gets the environment a user has
  if os.getenv("MEMDBG_SANITIZED") then command = "unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS; " .. command end
  local p, err, code = core.spawn(command)
  if not p then return nil, "cannot start the action command: " .. tostring(err), code end
  local t0 = core.now()
  local function stop()
    p:kill(15)
    local deadline = core.now() + KILL_GRACE
    while core.now() < deadline do
      if p:wait(0.05) or not p:pid() then break end
    end
    p:close() -- SIGKILL to what is left of its process group
  end
  local ok, exit, sig = pcall(function()
    while true do
      local e, s = p:wait(0.1)
      if e or s then return e, s end
      if core.now() - t0 > timeout then return nil, nil end
    end
  end)
  if not ok then
    stop() -- Ctrl-C or an error: the command does not outlive memdbg
    error(exit, 0)
  end
  local seconds = core.now() - t0
  if exit == nil and sig == nil then
    stop()
    return nil, timed_out(timeout, "the action command"), "ETIMEDOUT"
  end
  local tail = tail_lines(p:tail(), 10)
  p:close()
  if exit ~= 0 then
    local how = exit and ("exited with status " .. exit) or ("was killed by signal " .. tostring(sig))
    return nil, string.format("the action command %s%s", how,
      tail ~= "" and ("; the end of its stderr:\n" .. tail) or " (nothing on stderr)"), "EACTION"
  end
  return { kind = "command", exitCode = 0, seconds = seconds }
end

--- check_host(act) -> true | nil, message, code: the URL's host resolves, and
--- to a loopback address unless act.allowRemote (nothing is sent).
function actions.check_host(act)
  local load, err, code = core.httpLoad { host = act.host, port = act.port, requests = 1, concurrency = 1 }
  if not load then return nil, "the action's URL " .. act.url .. ": " .. tostring(err), code end
  local address = load:address()
  load:close()
  if not act.allowRemote and not is_loopback_address(address) then
    return nil, string.format("the action's URL %s resolves to %s, which is not loopback: memdbg sends requests "
      .. "only to this machine unless --allow-remote (allowRemote = true) is given", act.url, address), "EREMOTE"
  end
  return true
end

local function run_http(session, act, timeout, wait)
  local load, err, code = core.httpLoad {
    host = act.host, port = act.port, path = act.path, method = act.method, body = act.body,
    contentType = act.contentType, hostHeader = act.hostHeader, requests = act.requests,
    concurrency = act.concurrency,
  }
  if not load then return nil, "the action's URL " .. act.url .. ": " .. tostring(err), code end
  local address = load:address()
  if not act.allowRemote and not is_loopback_address(address) then
    load:close()
    return nil, string.format("the action's URL %s resolves to %s, which is not loopback: memdbg sends requests "
      .. "only to this machine unless --allow-remote (allowRemote = true) is given", act.url, address), "EREMOTE"
  end
  local t0 = core.now()
  local ok, done = pcall(function()
    while not load:step(wait and 0 or 0.1) do
      if core.now() - t0 > timeout then return false end
      if wait then wait(0.005) end
    end
    return true
  end)
  local r = load:result()
  load:close()
  if not ok then error(done, 0) end
  -- the server sees its keep-alive connections close before anything is measured
  session:poll(SETTLE)
  local seconds = core.now() - t0
  local answered = 0
  for _, n in pairs(r.statuses) do answered = answered + n end
  if not done then
    return nil, timed_out(timeout, string.format("the HTTP action (%d of %d answered)", answered, act.requests)),
      "ETIMEDOUT"
  end
  if answered == 0 then
    return nil, string.format("none of the %d requests to %s got an answer (%s)", act.requests, act.url,
      tostring(r.firstError)), "EACTION"
  end
  return { kind = "http", seconds = seconds, statuses = r.statuses, errors = r.errors, requests = act.requests,
    connections = r.connections, firstError = r.firstError }
end

-- Node, on process.exit() with an inspector attached, prints "Waiting for
-- the debugger to disconnect..." and keeps the socket open: the evaluation
-- would never be answered. NodeRuntime.waitingForDisconnect says so; the
-- session is closed then, which fails the evaluation at once.
local function watch_exit(session)
  local state = { ended = false }
  if session.runtime ~= "node" then return state, function() end end
  session:sendCommand { method = "NodeRuntime.notifyWhenWaitingForDisconnect", params = { enabled = true }, timeout = 5 }
  local sub = session:subscribe("NodeRuntime.waitingForDisconnect", function()
    state.ended = true
    session:close()
  end)
  return state, function() sub:cancel() end
end

local function ended_message(session, err)
  local how = session.runtime == "node" and "Node is exiting and waits for the debugger to disconnect"
    or tostring(err)
  return "the action ended the runtime (process.exit() or a crash?): " .. how
end

local function run_expression(session, act, timeout)
  local exit, unwatch = watch_exit(session)
  local t0 = core.now()
  local ok, v, err, code = pcall(session.memory.evaluate, session.memory, act.expr,
    { awaitPromise = true, timeout = timeout })
  unwatch()
  if not ok then error(v, 0) end
  if v == nil then
    if exit.ended or code == "ECLOSED" then return nil, ended_message(session, err), "ECLOSED" end
    if code == "ETIMEDOUT" then
      return nil, timed_out(timeout, "the action " .. string.format("%q", act.expr)) .. " (a promise that never settles?)",
        "ETIMEDOUT"
    end
    return nil, "the action failed: " .. tostring(err), code
  end
  return { kind = "expression", seconds = core.now() - t0 } -- its value may be large: not kept
end

-- "Just let it run": the session is serviced meanwhile (the CLI's --traffic
-- drives session.traffic), and a runtime that goes away is noticed.
local function run_wait(session, act, traffic)
  local t0 = core.now()
  local deadline = t0 + act.seconds
  while core.now() < deadline do
    traffic = traffic or session.traffic
    if traffic then traffic() end
    local ok, err, code = session:poll(math.min(0.25, math.max(0, deadline - core.now())))
    if not ok then return nil, ended_message(session, err), code end
  end
  return { kind = "wait", seconds = core.now() - t0 }
end

--- run(session, act, {timeout = 300, traffic = fn, wait = fn(seconds)}) -> result | nil, message, code
--- wait: how an HTTP action waits between non-blocking steps of its requests
--- (an editor passes one that yields to its loop and services the session);
--- without it the requests' own poll blocks in 0.1 s slices. (A command's
--- output goes to this process's stderr, which in an editor is its screen:
--- the Neovim plugin runs commands as libuv children of its own.)
function actions.run(session, act, o)
  local timeout = (o and o.timeout) or actions.DEFAULT_TIMEOUT
  local wait = o and o.wait
  if act.kind == "wait" then return run_wait(session, act, o and o.traffic) end
  if act.kind == "command" then return run_command(act, timeout) end
  if act.kind == "http" then return run_http(session, act, timeout, wait) end
  if act.kind == "expression" then return run_expression(session, act, timeout) end
  local t0 = core.now()
  local v, err, code = steps.run_action(session, act.fn, "action")
  if v == nil then return nil, err, code end
  return { kind = "function", seconds = core.now() - t0 }
end

--- "200 x98, 503 x2, 0 failed" for a report
function actions.format_statuses(r)
  local keys = {}
  for k in pairs(r.statuses or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = string.format("%s x%d", k, r.statuses[k]) end
  if (r.errors or 0) > 0 then
    parts[#parts + 1] = string.format("%d failed (%s)", r.errors, tostring(r.firstError))
  end
  return table.concat(parts, ", ")
end

return actions
