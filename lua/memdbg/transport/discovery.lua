-- What discovery answers mean: the runtime named by /json/version, the
-- target list, the choice of target, and the message a user reads when it
-- fails. The requests themselves are made by connector.lua.
local json = require("memdbg.util.json")

local discovery = {}

discovery.MAX_BODY = 16 * 1024 * 1024 -- the most memdbg reads of a discovery answer

-- What to tell a user whose connection failed, by error code (and phase).
local HINTS = {
  ECONNREFUSED = "is the runtime started with its inspector on that port "
    .. "(node --inspect=HOST:PORT, chromium --remote-debugging-port=PORT, deno --inspect=HOST:PORT, "
    .. "wrangler dev --inspector-port PORT, bun --inspect=HOST:PORT/NAME)?",
  ETIMEDOUT = "the host did not answer in time: is the address right, and nothing filtering the port?",
  ENOTFOUND = "the host name does not resolve: check the spelling of the endpoint",
  EHOSTUNREACH = "the host cannot be reached from here",
}
-- A timeout after the TCP connection was accepted is not a filtered port.
local LATE_TIMEOUT = "the port accepted the connection but did not answer in time: is it an inspector, "
  .. "and is the runtime not paused or busy?"

--- failure(what, endpoint_text, message, code[, late]) -> message, code
function discovery.failure(what, ep_text, msg, code, late)
  local hint = (late and code == "ETIMEDOUT") and LATE_TIMEOUT or HINTS[code]
  return string.format("cannot connect to %s (%s): %s%s", ep_text, what, msg, hint and ("; " .. hint) or ""), code
end

--- The runtime's name from /json/version's Browser field.
function discovery.runtime_of(version)
  local b = type(version) == "table" and tostring(version.Browser or "") or ""
  if b:match("^node%.js/") then return "node" end
  if b:match("Chrome/") or b:match("^Chromium/") then return "chrome" end
  if b:match("^Deno/") then return "deno" end
  if b:match("^workerd") or b:match("^wrangler") then return "workerd" end
  if b:match("^Bun") then return "bun" end
  return "unknown"
end

--- Whether a /json/version answer came from an inspector at all.
function discovery.is_inspector_version(version)
  return type(version) == "table" and (type(version.Browser) == "string" or type(version["Protocol-Version"]) == "string")
end

--- decode(status, body, path, url) -> value | nil, message, code
--- code EHTTP for a status other than 200, EPROTO for a body that is not JSON.
function discovery.decode(status, body, path, url)
  if status ~= 200 then return nil, "HTTP " .. status .. " for " .. path, "EHTTP" end
  local value, err = json.decode(body)
  if value == nil then
    return nil, "malformed JSON from " .. url .. path .. ": " .. tostring(err), "EPROTO"
  end
  return value
end

--- targets(list) -> array of {id, type, title, url, webSocketDebuggerUrl} | nil, message, code
function discovery.targets(list)
  if type(list) ~= "table" or (next(list) ~= nil and list[1] == nil) then
    return nil, "the target list is not an array", "EPROTO"
  end
  local out = {}
  for _, t in ipairs(list) do
    if type(t) == "table" then
      out[#out + 1] = {
        id = t.id, type = t.type, title = t.title, url = t.url,
        webSocketDebuggerUrl = t.webSocketDebuggerUrl,
      }
    end
  end
  return out
end

--- The message for an endpoint that answers HTTP but not as an inspector.
function discovery.not_inspector(ep_text, vwhy, lwhy)
  return string.format("%s answers HTTP but is not an inspector (GET /json/version: %s; GET /json/list: %s): "
    .. "is it the app's own port? The inspector listens on the port given to --inspect "
    .. "(9229 by default; see the runtime's 'Debugger listening on ws://...' line)", ep_text, vwhy, lwhy), "ENOTARGET"
end

--- The message for Bun (and any runtime with /json/version but no target list).
function discovery.no_list(ep_text, why, runtime)
  if runtime == "bun" then
    return string.format("%s answers no target list (%s): Bun speaks the WebKit inspector protocol; "
      .. "connect by the ws:// URL it listens on (bun --inspect=127.0.0.1:PORT/NAME)", ep_text, why), "ENOTARGET"
  end
  return string.format("%s answers no target list (%s): connect by the runtime's ws:// URL instead", ep_text, why),
    "ENOTARGET"
end

-- Targets that never hold the app's heap: Chromium's own UI pages.
local function is_app_target(t)
  return t.webSocketDebuggerUrl and t.type ~= "browser_ui" and t.type ~= "browser"
    and not tostring(t.url or ""):match("^chrome://") and not tostring(t.url or ""):match("^devtools://")
end

--- choose(targets, selector, runtime) -> target | nil, message, "ENOTARGET"
--- selector: nil (the first app target; a page on Chromium), a target id,
--- a type ("page", "node"), or function(target) -> bool.
function discovery.choose(targets, selector, runtime)
  for _, t in ipairs(targets) do
    local ok
    if selector == nil then
      ok = is_app_target(t) and (runtime ~= "chrome" or t.type == "page")
    elseif type(selector) == "function" then
      ok = t.webSocketDebuggerUrl and selector(t)
    else
      ok = t.webSocketDebuggerUrl and (t.id == selector or t.type == selector)
    end
    if ok then return t end
  end
  local seen = {}
  for _, t in ipairs(targets) do seen[#seen + 1] = string.format("%s %q", tostring(t.type), tostring(t.url)) end
  return nil, string.format("no inspectable target matches %s among %d target(s)%s",
    selector == nil and "the default (a page or a runtime)" or tostring(selector), #targets,
    #seen > 0 and (": " .. table.concat(seen, ", ")) or ""), "ENOTARGET"
end

return discovery
