-- The transport against servers that misbehave on purpose (spec/support/fakeserver.js),
-- the mock inspector and a real Node: the caller's timeout bounds every phase,
-- nothing from a discovery answer reaches the wire unchecked, answers that are
-- not an inspector's are named as such, and an idle session sends nothing.
local memdbg = require("memdbg")
local core = require("memdbg._core")
local proc = require("support.proc")
local mock = require("support.mock")
local node = require("support.node")

local function fake(mode, arg)
  local h = proc.spawn { argv = { "node", "spec/support/fakeserver.js", mode, arg } }
  h.port = tonumber(proc.wait_for(h, "PORT (%d+)\n", 10))
  if mode == "inject" then h.port2 = tonumber(proc.wait_for(h, "PORT2 (%d+)\n", 10)) end
  h.endpoint = "http://127.0.0.1:" .. h.port
  return h
end

-- connect, timed: elapsed seconds, then what connect returned
local function timed_connect(opts)
  local t0 = core.now()
  local s, err, code = memdbg.connect(opts)
  return core.now() - t0, s, err, code
end

describe("the caller's timeout bounds every phase", function()
  it("fails a stalled websocket upgrade with ETIMEDOUT at the caller's timeout, naming the phase", function()
    -- libwebsockets' own 5 s handshake timeout used to win: ECLOSED at 5.0 s
    local h = fake("stall-upgrade")
    finally(function() proc.stop(h) end)
    local took, s, err, code = timed_connect { endpoint = h.endpoint, timeout = 5.5 }
    assert.is_nil(s)
    assert.are.equal("ETIMEDOUT", code)
    assert.matches("websocket upgrade", err, 1, true)
    assert.matches("ws://127.0.0.1:" .. h.port .. "/fake-1", err, 1, true)
    assert.is_true(took >= 5.4 and took < 6.2, "took " .. took)
  end)

  it("bounds the whole attempt, not each request: slow discovery, then a stall", function()
    -- each answer takes 1.2 s, well inside 3 s, but the three phases together do not
    local h = fake("slow")
    finally(function() proc.stop(h) end)
    local took, s, err, code = timed_connect { endpoint = h.endpoint, timeout = 3 }
    assert.is_nil(s)
    assert.are.equal("ETIMEDOUT", code)
    assert.matches("no answer within 3 s", err, 1, true)
    assert.is_true(took >= 2.9 and took < 3.5, "took " .. took)
  end)

  it("fails a slow-drip /json/version with ETIMEDOUT naming the request", function()
    local h = fake("drip")
    finally(function() proc.stop(h) end)
    local took, s, err, code = timed_connect { endpoint = h.endpoint, timeout = 1.5 }
    assert.is_nil(s)
    assert.are.equal("ETIMEDOUT", code)
    assert.matches("GET /json/version", err, 1, true)
    assert.matches(h.endpoint, err, 1, true)
    assert.is_true(took >= 1.4 and took < 2.0, "took " .. took)
  end)

  it("connects without blocking the caller: connect{async = true} through pollfd/timeout/step", function()
    local h = fake("stall-upgrade")
    finally(function() proc.stop(h) end)
    local t0 = core.now()
    local c = memdbg.connect { endpoint = h.endpoint, timeout = 1, async = true }
    assert.is_true(core.now() - t0 < 0.05)
    local fd, steps, longest = c:pollfd(), 0, 0
    assert.is_number(fd)
    assert.are.equal("r", c:events())
    local r, err, code
    repeat
      local s0 = core.now()
      r, err, code = c:step()
      longest = math.max(longest, core.now() - s0)
      steps = steps + 1
      assert.are.equal(fd, c:pollfd()) -- one descriptor for the whole attempt
      if r == false then core.wait(c:pollfd(), c:events(), math.min(c:timeout(), 0.2)) end
    until r ~= false or core.now() - t0 > 5
    c:close()
    assert.is_nil(r)
    assert.are.equal("ETIMEDOUT", code)
    assert.matches("websocket upgrade", err, 1, true)
    assert.is_true(longest < 0.05, "a step took " .. longest .. " s")
    assert.is_true(steps >= 3)
    local took = core.now() - t0
    assert.is_true(took >= 0.95 and took < 1.5, "took " .. took)
  end)

  it("hands over the session from an async connect to the mock", function()
    local m = mock.start { runtime = "node" }
    finally(function() mock.stop(m) end)
    local c = memdbg.connect { endpoint = m.endpoint, async = true }
    local s, err
    local deadline = core.now() + 5
    repeat
      s, err = c:step()
      if s == false then core.wait(c:pollfd(), "r", c:timeout() or 0.1) end
    until s ~= false or core.now() > deadline
    c:close() -- never closes the session it returned
    assert(s, err)
    assert.are.same({ n = 1 }, assert(s:sendCommand { method = "Mock.echo", params = { n = 1 } }))
    s:close()
  end)
end)

describe("nothing from a discovery answer reaches the wire unchecked", function()
  it("refuses a websocket URL with CR LF (EPROTO, naming the target) and sends none of it", function()
    local h = fake("inject")
    finally(function() proc.stop(h) end)
    local s, err, code = memdbg.connect { endpoint = h.endpoint, timeout = 3 }
    assert.is_nil(s)
    assert.are.equal("EPROTO", code)
    assert.matches(h.endpoint, err, 1, true)
    assert.matches("control character", err, 1, true)
    assert.matches("\\x0D\\x0A", err, 1, true)
    proc.sleep(0.3)
    local log = proc.output(h)
    assert.is_nil(log:find("CONNECTION", 1, true), log)
    assert.is_nil(log:find("X-Injected", 1, true), log)
  end)

  for _, case in ipairs { { "longpath", "a 1100-character path" }, { "longhost", "a 300-character host" } } do
    it("answers a websocket URL with " .. case[2] .. " with a clean EPROTO", function()
      local h = fake(case[1])
      finally(function() proc.stop(h) end)
      local ok, s, err, code = pcall(memdbg.connect, { endpoint = h.endpoint, timeout = 3 })
      assert.is_true(ok, tostring(s)) -- no "bad argument" raised from the C core
      assert.is_nil(s)
      assert.are.equal("EPROTO", code)
      assert.matches("websocket URL from " .. h.endpoint, err, 1, true)
    end)
  end
end)

describe("answers that are not an inspector's", function()
  it("names the size cap of a 20 MB /json/list", function()
    local h = fake("biglist")
    finally(function() proc.stop(h) end)
    local s, err, code = memdbg.connect { endpoint = h.endpoint, timeout = 10 }
    assert.is_nil(s)
    assert.are.equal("EPROTO", code)
    assert.matches("16777216-byte limit", err, 1, true)
    assert.is_nil(err:find("malformed", 1, true))
  end)

  for _, mode in ipairs { "app", "notjson" } do
    it("says an app's own HTTP port (" .. mode .. ") is not an inspector, with no word of Bun", function()
      local h = fake(mode)
      finally(function() proc.stop(h) end)
      local s, err, code = memdbg.connect { endpoint = h.endpoint, timeout = 3 }
      assert.is_nil(s)
      assert.are.equal("ENOTARGET", code)
      assert.matches("is not an inspector", err, 1, true)
      assert.is_nil(err:find("Bun", 1, true), err)
      local t, terr, tcode = memdbg.targets(h.endpoint, { timeout = 3 })
      assert.is_nil(t)
      assert.are.equal("ENOTARGET", tcode)
      assert.matches("is not an inspector", terr, 1, true)
    end)
  end

  it("reads discovery answers in chunked transfer coding, however the bytes arrive", function()
    local h = fake("chunked")
    finally(function() proc.stop(h) end)
    local list = assert(memdbg.targets(h.endpoint, { timeout = 10 }))
    assert.are.equal(1, #list)
    assert.are.equal("fake-1", list[1].id)
    assert.are.equal("ws://127.0.0.1:" .. h.port .. "/fake-1", list[1].webSocketDebuggerUrl)
  end)

  it("reads a bare port as 127.0.0.1:PORT", function()
    local m = mock.start { runtime = "node" }
    finally(function() mock.stop(m) end)
    local s = assert(memdbg.connect { endpoint = tostring(m.port) })
    assert.matches("ws://127.0.0.1:" .. m.port .. "/", s.url, 1, true)
    s:close()
  end)
end)

describe("an idle session sends nothing", function()
  -- The transport has no timer at all (libwebsockets 4.1 sent a PING after
  -- 300 s and Node closes the connection on one), so a session that stays
  -- quiet for a few seconds stays quiet for days: bench/soak runs the hour.
  it("sends the mock no PING and no other frame while idle", function()
    local m = mock.start { runtime = "node" }
    finally(function() mock.stop(m) end)
    local s = assert(memdbg.connect { endpoint = m.endpoint })
    assert(s:poll(1.5)) -- the session's own loop, running
    local stats = assert(s:sendCommand { method = "Mock.stats" })
    assert.are.equal(0, stats.clientPings)
    assert.are.equal(1, stats.messages) -- Mock.stats itself
    s:close()
  end)

  it("keeps a real Node session open through an idle spell, without a byte from the client", function()
    local app = node.start { source = "setInterval(() => {}, 1000); console.log('app ready')", ready = "app ready" }
    local relay = fake("relay", tostring(app.port))
    finally(function()
      proc.stop(relay)
      node.stop(app)
    end)
    local s = assert(memdbg.connect { endpoint = relay.endpoint })
    assert.matches(":" .. relay.port .. "/", s.url, 1, true) -- the websocket goes through the relay too
    assert(s:sendCommand { method = "Runtime.evaluate", params = { expression = "1" } })
    proc.sleep(0.2)
    local before = select(2, proc.output(relay):gsub("C2S", ""))
    assert(s:poll(2))
    assert.are.equal(before, select(2, proc.output(relay):gsub("C2S", "")))
    local r = assert(s:sendCommand { method = "Runtime.evaluate", params = { expression = "6*7" } })
    assert.are.equal(42, r.result.value)
    s:close()
  end)
end)
