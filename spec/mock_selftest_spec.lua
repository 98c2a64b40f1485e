-- Self-test of the mock inspector's HTTP side (the websocket side is exercised by the
-- client specs). Needs `make build/lua5.4/mock_inspector` (part of `make`).
local mock = require("support.mock")
local proc = require("support.proc")
local cjson = require("cjson")

-- GET with curl; returns status, headers (lower-cased names), body.
-- (After a 101 the connection stays open: curl then returns at its timeout.)
local function http(url, extra, timeout)
  -- curl hangs when a sanitizer build's LD_PRELOAD reaches it: run it clean
  local cmd = string.format("env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS curl -s -i --max-time %s %s %s",
    timeout or 2, extra or "", proc.quote(url))
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  f:close()
  local head, body = out:match("^(.-)\r\n\r\n(.*)$")
  if not head then return nil, {}, out end
  local status = tonumber(head:match("^HTTP/1%.1 (%d+)"))
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do headers[name:lower()] = value end
  return status, headers, body
end

local function get_json(url)
  local status, headers, body = http(url)
  assert.are.equal(200, status)
  assert.are.equal("close", headers["connection"])
  assert.truthy(headers["content-type"]:find("application/json", 1, true))
  return cjson.decode(body)
end

local function check_target(t)
  for _, k in ipairs { "id", "type", "title", "url", "webSocketDebuggerUrl", "devtoolsFrontendUrl" } do
    assert.are.equal("string", type(t[k]), k)
  end
end

local UPGRADE = "-H 'Upgrade: websocket' -H 'Connection: Upgrade' -H 'Sec-WebSocket-Version: 13' "
  .. "-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='"

describe("mock inspector", function()
  local m
  after_each(function()
    mock.stop(m)
    m = nil
  end)

  it("starts as node with one target and the node version", function()
    m = mock.start { runtime = "node" }
    assert.are.equal("number", type(m.port))
    assert.are.equal("http://127.0.0.1:" .. m.port, m.endpoint)
    assert.truthy(m.ws:match("^ws://127%.0%.0%.1:" .. m.port .. "/[%x%-]+$"), m.ws)
    for _, path in ipairs { "/json/list", "/json" } do
      local list = get_json(m.endpoint .. path)
      assert.are.equal(1, #list)
      check_target(list[1])
      assert.are.equal("node", list[1].type)
      assert.are.equal(m.ws, list[1].webSocketDebuggerUrl)
    end
    local v = get_json(m.endpoint .. "/json/version")
    assert.are.equal("node.js/v20.20.2", v.Browser)
    assert.are.equal("1.3", v["Protocol-Version"])
    assert.are.equal(404, (http(m.endpoint .. "/nope")))
  end)

  it("lists chrome's browser_ui target first, then two pages", function()
    m = mock.start { runtime = "chrome" }
    local list = get_json(m.endpoint .. "/json/list")
    assert.are.equal(3, #list)
    for _, t in ipairs(list) do check_target(t) end
    assert.are.equal("browser_ui", list[1].type)
    assert.are.equal("chrome://newtab-footer/", list[1].url)
    assert.are.equal(m.ws, list[1].webSocketDebuggerUrl)
    assert.are.same({ "page", "Page A", "http://example.test/a" }, { list[2].type, list[2].title, list[2].url })
    assert.are.same({ "page", "Page B", "http://example.test/b" }, { list[3].type, list[3].title, list[3].url })
    for i = 2, 3 do
      assert.are.equal("ws://127.0.0.1:" .. m.port .. "/devtools/page/" .. list[i].id, list[i].webSocketDebuggerUrl)
    end
    local v = get_json(m.endpoint .. "/json/version")
    assert.are.equal("Chrome/156.0.0.0", v.Browser)
    assert.truthy(v.webSocketDebuggerUrl:match("^ws://127%.0%.0%.1:" .. m.port .. "/devtools/browser/[%x%-]+$"))
  end)

  it("completes a websocket handshake, and chrome refuses one with an Origin", function()
    m = mock.start { runtime = "chrome" }
    local path = m.ws:match("^ws://[^/]+(/.*)$")
    local status, headers = http(m.endpoint .. path, UPGRADE, 0.5)
    assert.are.equal(101, status)
    assert.are.equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", headers["sec-websocket-accept"]) -- RFC 6455 1.3
    status = http(m.endpoint .. path, UPGRADE .. " -H 'Origin: http://evil.test'")
    assert.are.equal(403, status)
  end)

  it("answers an Origin handshake for node (only chrome checks Origin)", function()
    m = mock.start { runtime = "node" }
    local status = http((m.ws:gsub("^ws:", "http:")), UPGRADE .. " -H 'Origin: http://evil.test'", 0.5)
    assert.are.equal(101, status)
  end)

  it("speaks as deno and workerd", function()
    m = mock.start { runtime = "deno" }
    assert.are.equal("Deno/2.9.6", get_json(m.endpoint .. "/json/version").Browser)
    local list = get_json(m.endpoint .. "/json/list")
    assert.are.same({ 1, "node", m.ws }, { #list, list[1].type, list[1].webSocketDebuggerUrl })
    mock.stop(m)

    m = mock.start { runtime = "workerd" }
    assert.are.equal("workerd", get_json(m.endpoint .. "/json/version").Browser)
    list = get_json(m.endpoint .. "/json/list")
    assert.are.equal(1, #list)
    assert.are.equal("ws://127.0.0.1:" .. m.port .. "/main", list[1].webSocketDebuggerUrl)
    assert.are.equal(m.ws, list[1].webSocketDebuggerUrl)
  end)

  it("answers 404 for bun's /json/list but still has a version and a ws URL", function()
    m = mock.start { runtime = "bun" }
    assert.are.equal(404, (http(m.endpoint .. "/json/list")))
    assert.are.equal("Bun", get_json(m.endpoint .. "/json/version").Browser)
    assert.truthy(m.ws:match("^ws://127%.0%.0%.1:" .. m.port .. "/"))
  end)

  it("passes snapshotBytes on and stops cleanly", function()
    m = mock.start { runtime = "node", snapshotBytes = 12345 }
    assert.truthy(mock.log(m):find("snapshot ~12345 bytes", 1, true))
    local endpoint = m.endpoint
    mock.stop(m)
    assert.is_false(proc.alive(m))
    assert.is_nil((http(endpoint .. "/json/version")))
  end)
end)
