-- What each runtime says about the isolates under a session (workers,
-- out-of-process iframes), for session.lua's children() and attach():
-- how discovery is turned on, the events that announce and end a child, and
-- the messages a user reads. Only public session methods are used here.
local children = {}

-- Runtimes whose inspector has nothing to attach under a target.
local NONE = {
  bun = "Bun's inspector (the WebKit protocol) exposes no workers: it has no Worker, Target or NodeWorker "
    .. "domain (Bun 1.4); a worker's heap cannot be inspected",
  workerd = "workerd has no isolates under a target: each service (each isolate) is its own target in "
    .. "/json/list, so connect to it with --target (wrangler dev offers just its one worker)",
}

-- Deno reports its workers as "node_worker".
local TYPES = { node_worker = "worker" }

local function not_found(msg)
  msg = tostring(msg)
  return msg:find("wasn't found", 1, true) or msg:find("not found", 1, true)
end

-- Deno announces its workers just after NodeWorker.enable's reply, but
-- lists them at once in Target.getTargets: wait (a little) for those.
local ANNOUNCE_WAIT = 2

local function await_listed(s, known)
  local r = s:sendCommand { method = "Target.getTargets" }
  if not r or type(r.targetInfos) ~= "table" then return false end
  local deadline = require("memdbg._core").now() + ANNOUNCE_WAIT
  for _, t in ipairs(r.targetInfos) do
    if TYPES[t.type] == "worker" or t.type == "worker" then
      while not known(tostring(t.targetId)) and s:isOpen() and require("memdbg._core").now() < deadline do
        s:poll(0.02)
      end
    end
  end
  return true
end

--- discover(session, known) -> true | nil, message, code: turns on the events
--- that announce children. Node's arrive before the reply; Deno's just after
--- it (known(id) tells whether one has arrived).
function children.discover(s, known)
  local why = NONE[s.runtime]
  if why then return nil, why, "EUNSUPPORTED" end
  local route = rawget(s, "_route")
  if route and route.kind == "worker" then
    return nil, "a worker's own workers cannot be reached through the NodeWorker domain (its messages would be "
      .. "wrapped twice)", "EUNSUPPORTED"
  end
  local cmd
  if s.runtime == "chrome" then
    cmd = { method = "Target.setAutoAttach", params = { autoAttach = true, waitForDebuggerOnStart = false,
      flatten = true } }
  else
    cmd = { method = "NodeWorker.enable", params = { waitForDebuggerOnStart = false } }
  end
  local r, err, code = s:sendCommand(cmd)
  if not r then
    if code == "ECOMMAND" and not_found(err) then
      return nil, string.format("%s does not expose its workers (%s)", s.runtime, err), "EUNSUPPORTED"
    end
    return nil, err, code
  end
  if cmd.method == "NodeWorker.enable" and not await_listed(s, known) then
    s:sendCommand { method = "Runtime.getHeapUsage" } -- one more round trip
  end
  return children.adopt(s, known)
end

local function origin(url)
  return tostring(url or ""):match("^(https?://[^/?#]+)")
end

-- The kinds of browser-level worker a page's auto-attach may leave out.
local SHARED = { shared_worker = true, service_worker = true }
-- Target.getTargets's own default: once someone turns discovery on, a call
-- without a filter takes discovery's (the protocol says so).
local ALL = { { type = "browser", exclude = true }, { type = "tab", exclude = true }, {} }

--- adopt(session, known) -> true | nil, message, code: on Chromium,
--- attaches the shared workers (and service workers out of the page's
--- scope) of the session's origin. They are browser-level targets: a page's
--- Target.setAutoAttach attaches its dedicated workers, its out-of-process
--- iframes and the service workers whose scope covers it, never a shared
--- worker (Target.getTargets lists it "attached": false), whose clients may
--- be any page of its origin. Target.attachToTarget{flatten} from the page's
--- session announces it there with Target.attachedToTarget like the others
--- (its end: see children.ended).
function children.adopt(s, known)
  if s.runtime ~= "chrome" then return true end
  local me = s.isolate or s.target
  local own = type(me) == "table" and tostring(me.id or me.targetId) or nil
  local r, err, code = s:sendCommand { method = "Target.getTargets", params = { filter = ALL } }
  if not r then return nil, err, code end
  local infos = type(r.targetInfos) == "table" and r.targetInfos or {}
  local self_info
  for _, t in ipairs(infos) do if t.targetId == own then self_info = t end end
  if not self_info or (self_info.type ~= "page" and self_info.type ~= "iframe") then return true end
  local home = origin(self_info.url)
  for _, t in ipairs(infos) do
    -- (an attached service worker is the page's auto-attach's, or on its way)
    if SHARED[t.type] and home and origin(t.url) == home and t.browserContextId == self_info.browserContextId
      and not known(tostring(t.targetId)) and not (t.type == "service_worker" and t.attached) then
      local a, aerr, acode = s:sendCommand { method = "Target.attachToTarget",
        params = { targetId = t.targetId, flatten = true } }
      -- one that went away since the list is not an error
      if not a and acode ~= "ECOMMAND" then return nil, aerr, acode end
    end
  end
  return true
end

--- event(session, method, params) -> info (a child came) | nil, sessionId (one went)
function children.event(_, m, p)
  if m == "NodeWorker.attachedToWorker" then
    local w = type(p.workerInfo) == "table" and p.workerInfo or {}
    if type(p.sessionId) ~= "string" then return nil end
    return { id = tostring(w.workerId or p.sessionId), type = TYPES[w.type] or w.type or "worker",
      title = w.title or "", url = w.url or "", raw = w, route = { kind = "worker", sessionId = p.sessionId } }
  elseif m == "Target.attachedToTarget" then
    local t = type(p.targetInfo) == "table" and p.targetInfo or {}
    if type(p.sessionId) ~= "string" then return nil end
    return { id = tostring(t.targetId), type = TYPES[t.type] or t.type or "other", title = t.title or "",
      url = t.url or "", raw = t, route = { kind = "flat", sessionId = p.sessionId } }
  elseif m == "NodeWorker.detachedFromWorker" or m == "Target.detachedFromTarget" then
    if type(p.sessionId) == "string" then return nil, p.sessionId end
  end
  return nil
end

--- ended(method) -> true when an event on an attached session says that its
--- isolate ended though no Target.detachedFromTarget will come: a Chromium
--- shared worker that closes says only Inspector.targetCrashed on its own
--- session, and Chromium keeps the session for a worker started again under
--- the same name and URL, which then waits for this debugger to let it run.
function children.ended(method)
  return method == "Inspector.targetCrashed"
end

--- The message the pending commands of a child that went away fail with.
function children.gone_message(info, method)
  info = info or {}
  local title = info.title ~= "" and info.title or info.url or "?"
  return string.format("the %s %q (%s) went away: it exited, was terminated or navigated (%s)",
    tostring(info.type or "child"), tostring(title), tostring(info.id), method)
end

--- find(kids, selector) -> info: a child by id, or the first the function accepts.
function children.find(kids, selector)
  for _, k in ipairs(kids) do
    if type(selector) == "function" then
      if selector(k.raw) then return k end
    elseif k.id == selector then
      return k
    end
  end
end

function children.no_match(s, selector, list)
  local seen = {}
  for _, c in ipairs(list) do seen[#seen + 1] = string.format("%s %s %q", c.type, c.id, c.title) end
  return string.format("no child of %s matches %s; its children: %s", s.url,
    type(selector) == "function" and "the function" or tostring(selector),
    #seen > 0 and table.concat(seen, ", ") or "none")
end

--- attach_target(session, selector) -> info | nil, message, code: Chromium
--- attaches to any target it lists (Target.attachToTarget with flatten);
--- closing such a session detaches it.
function children.attach_target(s, target)
  local list, err, code = s:sendCommand { method = "Target.getTargets", params = { filter = ALL } }
  if not list then return nil, err, code end
  local chosen
  for _, t in ipairs(list.targetInfos or {}) do
    local ok
    if target == nil then ok = t.type == "page" and not tostring(t.url):match("^chrome")
    elseif type(target) == "function" then ok = target(t)
    else ok = t.targetId == target or t.type == target end
    if ok then chosen = t break end
  end
  if not chosen then
    return nil, string.format("no target matches %s at %s", tostring(target or "the first page"), s.url), "ENOTARGET"
  end
  local r
  r, err, code = s:sendCommand { method = "Target.attachToTarget", params = { targetId = chosen.targetId, flatten = true } }
  if not r then return nil, err, code end
  return { id = chosen.targetId, type = TYPES[chosen.type] or chosen.type, title = chosen.title or "",
    url = chosen.url or "", raw = chosen, route = { kind = "flat", sessionId = r.sessionId, explicit = true } }
end

-- UTF-8 to \uXXXX (JSON escapes; surrogate pairs above the BMP).
local function u_escape(seq)
  local b1 = seq:byte(1)
  local n = b1 >= 0xF0 and 4 or b1 >= 0xE0 and 3 or b1 >= 0xC0 and 2 or 0
  if n == 0 or #seq ~= n then return string.rep("\\ufffd", #seq) end
  local cp = b1 % (2 ^ (7 - n))
  for i = 2, n do cp = cp * 64 + seq:byte(i) % 64 end
  if cp < 0x10000 then return string.format("\\u%04x", cp) end
  cp = cp - 0x10000
  return string.format("\\u%04x\\u%04x", 0xD800 + math.floor(cp / 1024), 0xDC00 + cp % 1024)
end

--- ascii(json) -> the same JSON with every non-ASCII character escaped.
--- Node 20 garbles UTF-8 in NodeWorker.sendMessageToWorker's message (the
--- worker answers "Message must be a valid JSON"); escapes pass unharmed.
function children.ascii(text)
  if not text:find("[\128-\255]") then return text end
  return (text:gsub("[\128-\255][\128-\191]*", u_escape))
end

return children
