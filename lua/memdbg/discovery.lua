-- HTTP discovery: /json/version (which runtime), /json/list (which targets),
-- and the choice of target.
local core = require("memdbg.core")
local json = require("memdbg.json")
local endpoint = require("memdbg.endpoint")

local discovery = {}

-- What to tell a user whose connection failed, by error code.
local HINTS = {
  ECONNREFUSED = "is the runtime started with its inspector on that port "
    .. "(node --inspect=HOST:PORT, chromium --remote-debugging-port=PORT, deno --inspect=HOST:PORT, "
    .. "wrangler dev --inspector-port PORT, bun --inspect=HOST:PORT/NAME)?",
  ETIMEDOUT = "the host did not answer in time: is the address right, and nothing filtering the port?",
  ENOTFOUND = "the host name does not resolve: check the spelling of the endpoint",
  EHOSTUNREACH = "the host cannot be reached from here",
}

function discovery.failure(what, ep_text, msg, code)
  local hint = HINTS[code]
  return string.format("cannot connect to %s (%s): %s%s", ep_text, what, msg,
    hint and ("; " .. hint) or ""), code
end

local function get_json(ep, path, timeout)
  local status, body, code = core.httpGet(endpoint.address(ep.host), ep.port, path, timeout)
  if not status then return nil, body, code end
  if status ~= 200 then return nil, "HTTP " .. status .. " for " .. path, "EHTTP", status end
  local value, err = json.decode(body)
  if value == nil then
    return nil, "malformed JSON from " .. endpoint.http_url(ep) .. path .. ": " .. tostring(err), "EPROTO"
  end
  return value
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

function discovery.version(ep, timeout)
  return get_json(ep, "/json/version", timeout)
end

--- The target list: /json/list, falling back to /json.
function discovery.list(ep, timeout)
  local list, err, code, status = get_json(ep, "/json/list", timeout)
  if list == nil and code == "EHTTP" then
    list, err, code, status = get_json(ep, "/json", timeout)
  end
  if list == nil then return nil, err, code, status end
  if type(list) ~= "table" then return nil, "the target list is not an array", "EPROTO" end
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
