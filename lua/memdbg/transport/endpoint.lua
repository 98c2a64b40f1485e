-- Endpoints, parsed strictly: "http://H:P", "H:P", "P" (a port on
-- 127.0.0.1), "ws://H:P/PATH", with H a host name, an IPv4 address or a
-- bracketed IPv6 one ("[::1]:9229"). Anything else is refused with a message
-- that says why. Whether a host is loopback is decided on the address it
-- resolves to (connector.lua), never on its spelling.
local core = require("memdbg._core")

local endpoint = {}

endpoint.MAX_URL = 2048 -- characters in an endpoint or a websocket URL
endpoint.MAX_HOST = 253 -- the longest DNS name
endpoint.MAX_PATH = 1000

local FORMS = "give http://HOST:PORT, HOST:PORT, PORT or ws://HOST:PORT/PATH"

--- Text as a user can read it in a message: control characters as \xNN, cut at 80.
function endpoint.show(text)
  local shown = #text > 80 and (text:sub(1, 77) .. "...") or text
  return "'" .. shown:gsub("[%c\127]", function(ch) return string.format("\\x%02X", ch:byte()) end) .. "'"
end

local function bad(text, why)
  return nil, string.format("bad endpoint %s: %s", endpoint.show(text), why)
end

local function valid_hostname(h)
  if #h > endpoint.MAX_HOST then return false end
  for label in (h .. "."):gmatch("([^.]*)%.") do
    if label == "" or #label > 63 or not label:match("^[%w%-_]+$") or label:match("^%-") or label:match("%-$") then
      return false
    end
  end
  return true
end

local function parse_port(text, s)
  if not s:match("^%d+$") then return bad(text, "the port must be a number from 1 to 65535, not '" .. s .. "'") end
  local n = tonumber(s)
  if #s > 5 or n < 1 or n > 65535 then return bad(text, "the port must be from 1 to 65535, not " .. s) end
  return n
end

--- parse(text) -> {scheme, host, port, path, text} | nil, message
function endpoint.parse(text)
  if type(text) ~= "string" then return nil, "the endpoint must be a string, not a " .. type(text) end
  if text == "" then return nil, "the endpoint is empty: " .. FORMS end
  if #text > endpoint.MAX_URL then return bad(text, "longer than " .. endpoint.MAX_URL .. " characters") end
  if text:find("[%c%s\127]") then return bad(text, "it contains a space or a control character") end
  if text:match("^%d+$") then -- a bare port: the inspector's default host
    local port, err = parse_port(text, text)
    if not port then return nil, err end
    return { scheme = "http", host = "127.0.0.1", port = port, path = "/", text = text }
  end
  local scheme, rest = text:match("^(%a[%w+.%-]*)://(.*)$")
  if scheme then
    scheme = scheme:lower()
    if scheme ~= "http" and scheme ~= "ws" then
      return bad(text, "unsupported scheme '" .. scheme .. "://' (inspectors speak http:// and ws://; "
        .. "TLS is not supported)")
    end
  elseif text:match("^%a[%w+.%-]*:/") then
    return bad(text, "not a URL (" .. FORMS .. ")")
  else
    scheme, rest = "http", text
  end
  local auth, path = rest:match("^([^/?#]*)(.*)$")
  if auth == "" then return bad(text, "no host (" .. FORMS .. ")") end
  if auth:find("@", 1, true) then return bad(text, "user information (USER@HOST) is not supported") end
  local host, portstr
  if auth:sub(1, 1) == "[" then
    local after
    host, after = auth:match("^%[([^%]]*)%](.*)$")
    if not host then return bad(text, "an unclosed '['") end
    if core.addressFamily(host) ~= 6 then return bad(text, "'[" .. host .. "]' is not an IPv6 address") end
    if after ~= "" then
      portstr = after:match("^:(.*)$")
      if not portstr then return bad(text, "'" .. after .. "' after the address") end
    end
  else
    local colons = select(2, auth:gsub(":", ""))
    if colons > 1 then return bad(text, "an IPv6 address goes in brackets, as in [::1]:9229") end
    host, portstr = auth:match("^([^:]*):(.*)$")
    if not host then host = auth end
    if host == "" then return bad(text, "no host before the port") end
    if host:match("^[%d.]+$") then
      if not (host:match("^%d+%.%d+%.%d+%.%d+$") and core.addressFamily(host) == 4) then
        return bad(text, "'" .. host .. "' is not an IPv4 address")
      end
    elseif not valid_hostname(host) then
      return bad(text, "'" .. host .. "' is not a host name")
    end
  end
  local port = scheme == "ws" and 80 or 9229
  if portstr then
    if portstr == "" then return bad(text, "an empty port after ':'") end
    local err
    port, err = parse_port(text, portstr)
    if not port then return nil, err end
  end
  if path == "" then path = "/" end
  if path:sub(1, 1) ~= "/" then return bad(text, "'" .. path .. "' after the host (a path starts with '/')") end
  if #path > endpoint.MAX_PATH then return bad(text, "a path longer than " .. endpoint.MAX_PATH .. " characters") end
  return { scheme = scheme, host = host:lower(), port = port, path = path, text = text }
end

--- Whether an address literal is loopback (127/8, ::1); names are resolved first.
function endpoint.is_loopback_address(addr)
  return core.isLoopback(addr)
end

--- The address to connect to for a host that needs no lookup, or nil.
--- "localhost" is 127.0.0.1: runtimes listen on IPv4 and a resolver may answer ::1 first.
function endpoint.literal(host)
  if host == "localhost" then return "127.0.0.1" end
  if core.addressFamily(host) then return host end
  return nil
end

-- Kept for callers that connect to a host given by the user (--traffic):
-- the literal, else the name as is (core.httpGet resolves it).
function endpoint.address(host)
  return endpoint.literal(host) or host
end

--- host:port as a URL authority ("[::1]:9229").
function endpoint.authority(host, port)
  return (host:find(":", 1, true) and ("[" .. host .. "]") or host) .. ":" .. port
end

function endpoint.http_url(ep)
  return "http://" .. endpoint.authority(ep.host, ep.port)
end

return endpoint
