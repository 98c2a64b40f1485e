-- memdbg._core's metrics endpoint on its own (monitor --openmetrics): the
-- thread answers every GET with the last published text, chosen by Accept;
-- a client that sends nothing holds it 2 s at most; close() stops it. In the
-- valgrind subset (a thread beside Lua's).
local core = require("memdbg._core")
local run = require("support.run")

local q = run.quote

local function curl(url, extra)
  local p = io.popen("env -u LD_PRELOAD curl -s -i --max-time 5 " .. (extra or "") .. " " .. q(url) .. " 2>/dev/null")
  local out = p:read("*a")
  p:close()
  local head, body = out:match("^(.-)\r\n\r\n(.*)$")
  return head or out, body or ""
end

describe("core.metricsServe", function()
  it("serves 503 until the first publish, then the text Accept asks for; 404 elsewhere; HEAD; close twice", function()
    local server = assert(core.metricsServe("127.0.0.1", 0))
    local host, port = server:address()
    assert.equal("127.0.0.1", host)
    assert.is_true(port > 0)
    local url = "http://127.0.0.1:" .. port .. "/metrics"
    assert.matches("^HTTP/1%.1 503", (curl(url)))
    server:publish("a_total 1\n# EOF\n", "a_total 1\n")
    local head, body = curl(url, "-H 'Accept: application/openmetrics-text; version=1.0.0'")
    assert.matches("^HTTP/1%.1 200", head)
    assert.matches("Content%-Type: application/openmetrics%-text; version=1%.0%.0; charset=utf%-8", head)
    assert.matches("Content%-Length: 16", head)
    assert.equal("a_total 1\n# EOF\n", body)
    head, body = curl(url)
    assert.matches("Content%-Type: text/plain; version=0%.0%.4", head)
    assert.equal("a_total 1\n", body)
    head, body = curl("http://127.0.0.1:" .. port .. "/")
    assert.matches("^HTTP/1%.1 200", head)
    assert.equal("a_total 1\n", body)
    head, body = curl(url, "-I")
    assert.matches("^HTTP/1%.1 200", head)
    assert.equal("", body)
    assert.matches("^HTTP/1%.1 404", (curl("http://127.0.0.1:" .. port .. "/x")))
    assert.matches("^HTTP/1%.1 405", (curl(url, "-X POST")))
    -- a large text, replaced while being served
    local big = string.rep("m 1\n", 100000)
    server:publish(big, big)
    head, body = curl(url)
    assert.matches("Content%-Length: " .. #big, head)
    assert.equal(#big, #body)
    assert.equal(6, server:scrapes()) -- 503, 200 x4, HEAD: not the 404 and 405
    server:close()
    server:close()
    assert.equal("", (curl(url)))
    assert.has_error(function() server:publish("x", "y") end, "the metrics server is closed")
  end)

  it("a client that sends nothing is dropped after 2 s; the next one is served", function()
    local server = assert(core.metricsServe("127.0.0.1", 0))
    finally(function() server:close() end)
    local _, port = server:address()
    server:publish("x 1\n# EOF\n", "x 1\n")
    -- a silent connection first: bash opens it and sends nothing for 3 s
    local silent = io.popen("env -u LD_PRELOAD bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. port .. "; sleep 3'")
    os.execute("sleep 0.2")
    local t0 = core.now()
    local head, body = curl("http://127.0.0.1:" .. port .. "/metrics")
    assert.matches("^HTTP/1%.1 200", head)
    assert.equal("x 1\n", body)
    assert.is_true(core.now() - t0 < 4)
    silent:close()
  end)

  it("refuses an address that is not a literal, and a port in use", function()
    assert.has_error(function() core.metricsServe("localhost", 0) end)
    local a = assert(core.metricsServe("127.0.0.1", 0))
    local _, port = a:address()
    local b, err, code = core.metricsServe("127.0.0.1", port)
    assert.is_nil(b)
    assert.equal("EADDRINUSE", code)
    assert.matches("cannot listen on 127%.0%.0%.1 port " .. port, err)
    a:close()
  end)
end)
