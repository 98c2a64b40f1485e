-- Endpoints: "http://H:P", "H:P" or "ws://H:P/path", and the loopback rule
-- (an inspector is remote code execution, so non-loopback hosts are refused
-- unless the caller says allowRemote).
local endpoint = {}

--- parse(text) -> {scheme, host, port, path, text} | nil, message
function endpoint.parse(text)
  if type(text) ~= "string" or text == "" then return nil, "endpoint must be a non-empty string" end
  local scheme, rest = text:match("^(%a+)://(.*)$")
  scheme = scheme and scheme:lower() or "http"
  rest = rest or text
  if scheme ~= "http" and scheme ~= "ws" then
    return nil, "unsupported endpoint scheme '" .. scheme .. "' in " .. text .. " (use http:// or ws://)"
  end
  local host, port, path = rest:match("^%[([%x:]+)%]:?(%d*)(.*)$")
  if not host then host, port, path = rest:match("^([^:/]+):?(%d*)(.*)$") end
  if not host then return nil, "cannot read a host in endpoint " .. text end
  port = tonumber(port) or (scheme == "ws" and 80 or 9229)
  if port < 1 or port > 65535 then return nil, "port out of range in endpoint " .. text end
  if path == "" then path = "/" end
  return { scheme = scheme, host = host, port = port, path = path, text = text }
end

function endpoint.is_loopback(host)
  host = host:lower()
  return host == "localhost" or host == "::1" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

-- Connect to an IPv4 literal for "localhost": runtimes listen on 127.0.0.1
-- and a resolver may answer ::1 first.
function endpoint.address(host)
  if host:lower() == "localhost" then return "127.0.0.1" end
  return host
end

function endpoint.http_url(ep)
  local h = ep.host:find(":") and ("[" .. ep.host .. "]") or ep.host
  return "http://" .. h .. ":" .. ep.port
end

return endpoint
