-- The transport against the scriptable mock inspector: protocol edge cases
-- and faults that a real runtime will not produce on demand.
local memdbg = require("memdbg")
local core = require("memdbg._core")
local mock = require("support.mock")
local proc = require("support.proc")

local function connect(m, opts)
  opts = opts or {}
  opts.endpoint = opts.endpoint or m.endpoint
  return assert(memdbg.connect(opts))
end

describe("discovery", function()
  it("reads a node target and names the runtime", function()
    local m = mock.start { runtime = "node" }
    finally(function() mock.stop(m) end)
    local t = assert(memdbg.targets(m.endpoint))
    assert.are.equal("node", t[1].type)
    local s = connect(m)
    assert.are.equal("node", s.runtime)
    assert.are.equal(t[1].webSocketDebuggerUrl, s.url)
    s:close()
  end)

  it("picks a Chromium page by default, never browser_ui, and by id, type or function", function()
    local m = mock.start { runtime = "chrome" }
    finally(function() mock.stop(m) end)
    local targets = assert(memdbg.targets(m.endpoint))
    assert.are.equal("browser_ui", targets[1].type)
    local s = connect(m)
    assert.are.equal("chrome", s.runtime)
    assert.are.equal("page", s.target.type)
    assert.are.equal("http://example.test/a", s.target.url)
    -- the chrome mock refuses any Origin header with 403, as Chromium does: we sent none
    assert(s:sendCommand { method = "Mock.echo", params = { ok = 1 } })
    s:close()
    local b = connect(m, { target = function(t) return t.title == "Page B" end })
    assert.are.equal("http://example.test/b", b.target.url)
    b:close()
    local byid = connect(m, { target = targets[3].id })
    assert.are.equal(targets[3].id, byid.target.id)
    byid:close()
    local none, err, code = memdbg.connect { endpoint = m.endpoint, target = "service_worker" }
    assert.is_nil(none)
    assert.are.equal("ENOTARGET", code)
    assert.matches("service_worker", err)
  end)

  it("names each runtime from /json/version", function()
    for _, rt in ipairs { "deno", "workerd" } do
      local m = mock.start { runtime = rt }
      local s = connect(m)
      assert.are.equal(rt, s.runtime)
      s:close()
      mock.stop(m)
    end
  end)

  it("tells a Bun user to connect by ws URL, and connects by it", function()
    local m = mock.start { runtime = "bun" }
    finally(function() mock.stop(m) end)
    local s, err, code = memdbg.connect { endpoint = m.endpoint }
    assert.is_nil(s)
    assert.are.equal("ENOTARGET", code)
    assert.matches("ws://", err, 1, true)
    local t, terr = memdbg.targets(m.endpoint)
    assert.is_nil(t)
    assert.matches("Bun", terr)
    local ws = connect(m, { endpoint = m.ws })
    assert.are.equal("bun", ws.runtime)
    ws:close()
  end)

  it("refuses non-loopback endpoints unless allowRemote", function()
    local s, err, code = memdbg.connect { endpoint = "http://192.0.2.10:9229" }
    assert.is_nil(s)
    assert.are.equal("EREMOTE", code)
    assert.matches("allowRemote", err)
    local t, _, tcode = memdbg.targets("ws://203.0.113.5:9229/x")
    assert.is_nil(t)
    assert.are.equal("EREMOTE", tcode)
  end)

  it("raises on argument mistakes", function()
    assert.has_error(function() memdbg.connect(42) end)
    assert.has_error(function() memdbg.connect { endpoint = "ftp://127.0.0.1:1" } end)
    assert.has_error(function() memdbg.connect { endpoint = "127.0.0.1:1", timeout = -1 } end)
    assert.has_error(function() memdbg.connect { endpoint = "127.0.0.1:1", target = 3 } end)
  end)
end)

describe("a session against the mock", function()
  local m, s
  before_each(function()
    m = mock.start { runtime = "node" }
    s = connect(m, { timeout = 5 })
  end)
  after_each(function()
    if s then s:close() end
    mock.stop(m)
  end)

  it("matches replies by id and passes params through", function()
    local r = assert(s:sendCommand { method = "Mock.echo", params = { a = "x", n = 3 } })
    assert.are.same({ a = "x", n = 3 }, r)
  end)

  it("raises on bad sendCommand and subscribe arguments", function()
    assert.has_error(function() s:sendCommand("Runtime.evaluate") end)
    assert.has_error(function() s:sendCommand {} end)
    assert.has_error(function() s:sendCommand { method = "X", params = "no" } end)
    assert.has_error(function() s:subscribe("X", nil) end)
  end)

  it("returns the runtime's error as ECOMMAND with its text", function()
    local r, err, code, detail = s:sendCommand { method = "Mock.error" }
    assert.is_nil(r)
    assert.are.equal("ECOMMAND", code)
    assert.matches("wasn't found", err)
    assert.are.equal(-32601, detail.code)
  end)

  it("delivers events in order before the reply", function()
    local seen = {}
    s:subscribe("Test.tick", function(p, method) seen[#seen + 1] = { p.n, method } end)
    local r = assert(s:sendCommand { method = "Mock.events", params = { count = 5, method = "Test.tick" } })
    assert.are.equal(5, r.sent)
    assert.are.same({ { 1, "Test.tick" }, { 2, "Test.tick" }, { 3, "Test.tick" }, { 4, "Test.tick" },
      { 5, "Test.tick" } }, seen)
  end)

  it("keeps delivering after a handler raises, and reports the error", function()
    local errors, count = {}, 0
    s.onError = function(where, err) errors[#errors + 1] = where .. ": " .. tostring(err) end
    s:subscribe("Test.tick", function() error("handler bug") end)
    s:subscribe("Test.tick", function() count = count + 1 end)
    assert(s:sendCommand { method = "Mock.events", params = { count = 3, method = "Test.tick" } })
    assert.are.equal(3, count)
    assert.are.equal(3, #errors)
    assert.matches("handler bug", errors[1])
  end)

  it("treats a message with an id and a method as the reply (workerd)", function()
    local r, err = s:sendCommand { method = "Mock.replyWithMethod" }
    assert.is_nil(err)
    assert.are.same({}, r)
  end)

  it("ignores replies to ids it never sent", function()
    local r = assert(s:sendCommand { method = "Mock.unknownIdReply" })
    assert.is_true(r.ok)
  end)

  it("reassembles a message split into many fragments", function()
    local r = assert(s:sendCommand { method = "Mock.fragmented", params = { size = 200000, fragment = 777 } })
    assert.are.equal(200000, #r.data)
    assert.are.equal(string.rep("x", 200000), r.data)
  end)

  -- valgrind runs ~50x slower: there the same path is exercised with 30 MB
  local big_mb = os.getenv("MEMDBG_VALGRIND") and 30 or 300
  it("receives one " .. big_mb .. " MB message in a single frame", function()
    local size = big_mb * 1024 * 1024
    local r = assert(s:sendCommand { method = "Mock.big", params = { size = size, frame = "one" }, timeout = 60 })
    assert.are.equal(size, #r.data)
    assert.are.equal("abcdefghij", r.data:sub(1, 10))
    assert.are.equal(string.char(97 + (size - 1) % 26), r.data:sub(-1))
  end)

  it("refuses a message over the cap with EPROTO and closes", function()
    s:close()
    s = connect(m, { maxMessage = 1024 * 1024 })
    local r, err, code = s:sendCommand { method = "Mock.big", params = { size = 2 * 1024 * 1024 } }
    assert.is_nil(r)
    assert.are.equal("EPROTO", code)
    assert.matches("1048576%-byte cap", err)
    assert.is_false(s:isOpen())
  end)

  it("fails a malformed reply with EPROTO and stays usable", function()
    local r, err, code = s:sendCommand { method = "Mock.malformed" }
    assert.is_nil(r)
    assert.are.equal("EPROTO", code)
    assert.matches("malformed JSON", err)
    assert(s:sendCommand { method = "Mock.echo" })
  end)

  it("reports a malformed event without losing the reply", function()
    local reported
    s:subscribe("memdbg.protocolError", function(p) reported = p.message end)
    assert(s:sendCommand { method = "Mock.malformedEvent" })
    assert.matches("malformed JSON", reported)
  end)

  it("times out a stalled command with ETIMEDOUT and stays usable", function()
    local t0 = core.now()
    local r, err, code = s:sendCommand { method = "Mock.stall", timeout = 0.5 }
    local took = core.now() - t0
    assert.is_nil(r)
    assert.are.equal("ETIMEDOUT", code)
    assert.matches("Mock.stall got no reply within 0.5 s", err, 1, true)
    assert.is_true(took >= 0.5 and took < 2)
    assert(s:sendCommand { method = "Mock.echo" })
  end)

  it("fails every pending command at once with ECLOSED on a drop", function()
    local results = {}
    for i = 1, 3 do
      s:sendCommand { method = "Mock.stall", timeout = 30, callback = function(_, err, code)
        results[i] = { err, code }
      end }
    end
    local t0 = core.now()
    local r, err, code = s:sendCommand { method = "Mock.drop", timeout = 30 }
    assert.is_true(core.now() - t0 < 5)
    assert.is_nil(r)
    assert.are.equal("ECLOSED", code)
    assert.matches(s.url, err, 1, true)
    for i = 1, 3 do assert.are.equal("ECLOSED", results[i][2]) end
  end)

  for _, case in ipairs { { 1000, "bye" }, { 1001, "going away" }, { 1011, "internal" }, { 4000, "custom" } } do
    it("reports close code " .. case[1] .. " with its reason", function()
      local r, err, code = s:sendCommand { method = "Mock.close", params = { code = case[1], reason = case[2] } }
      assert.is_nil(r)
      assert.are.equal("ECLOSED", code)
      assert.matches("close code " .. case[1] .. ": " .. case[2], err, 1, true)
    end)
  end

  it("reports a close frame without a status", function()
    local r, err, code = s:sendCommand { method = "Mock.close", params = { code = 0 } }
    assert.is_nil(r)
    assert.are.equal("ECLOSED", code)
    assert.matches("close code 1005", err, 1, true)
  end)

  it("answers pings and goes on", function()
    assert(s:sendCommand { method = "Mock.ping" })
    local stats = assert(s:sendCommand { method = "Mock.stats" })
    assert.are.equal(1, stats.pingsSent)
    assert.are.equal(1, stats.pongs)
  end)

  it("reports the runtime process dying as ECLOSED", function()
    local r, _, code = s:sendCommand { method = "Mock.exit" }
    assert.is_nil(r)
    assert.are.equal("ECLOSED", code)
  end)

  it("drives commands from an outside loop without blocking", function()
    local got
    s:sendCommand { method = "Mock.stall", timeout = 0.3, callback = function(_, err, code) got = { err, code } end }
    assert.is_true(s:timeout() <= 0.3)
    local t0 = core.now()
    assert.is_true(s:step())
    assert.is_true(core.now() - t0 < 0.05)
    assert.is_nil(got)
    while not got and core.now() - t0 < 3 do
      local wait = s:timeout() or 0.05
      core.sleep(math.min(wait, 0.05))
      s:step()
    end
    assert.are.equal("ETIMEDOUT", got[2])
  end)
end)

describe("an endpoint that accepts and never answers", function()
  local h, port
  before_each(function()
    h = proc.spawn { argv = { "node", "-e",
      "const s=require('net').createServer(()=>{}).listen(0,'127.0.0.1',()=>console.log('PORT '+s.address().port))" } }
    port = proc.wait_for(h, "PORT (%d+)", 10)
  end)
  after_each(function() proc.stop(h) end)

  it("times out discovery with ETIMEDOUT", function()
    local s, err, code = memdbg.connect { endpoint = "127.0.0.1:" .. port, timeout = 0.5 }
    assert.is_nil(s)
    assert.are.equal("ETIMEDOUT", code)
    assert.matches("127.0.0.1:" .. port, err, 1, true)
  end)

  it("times out the websocket handshake with ETIMEDOUT", function()
    local url = "ws://127.0.0.1:" .. port .. "/x"
    local s, err, code = memdbg.connect { endpoint = url, timeout = 0.5 }
    assert.is_nil(s)
    assert.are.equal("ETIMEDOUT", code)
    assert.matches(url, err, 1, true)
  end)
end)

describe("a waiter set on the session", function()
  it("does the waiting for blocking calls, so a coroutine driver can yield", function()
    local m = mock.start { runtime = "node" }
    finally(function() mock.stop(m) end)
    local s = assert(memdbg.connect { endpoint = m.endpoint })
    local co
    local yields = 0
    s:setWaiter(function(wait)
      if coroutine.running() ~= co then return false end
      yields = yields + 1
      coroutine.yield(wait)
      return true
    end)
    local result
    co = coroutine.create(function()
      result = s:sendCommand { method = "Mock.events", params = { count = 3, method = "Test.tick" } }
    end)
    local deadline = core.now() + 5
    while coroutine.status(co) ~= "dead" and core.now() < deadline do
      assert(coroutine.resume(co))
      core.sleep(0.01) -- the outside loop's own work would run here
    end
    assert.are.equal(3, result.sent)
    assert.is_true(yields >= 1)
    -- outside the coroutine the waiter declines and the call blocks as usual
    assert.are.equal(1, s:sendCommand { method = "Mock.events", params = { count = 1 } }.sent)
    s:close()
  end)
end)
