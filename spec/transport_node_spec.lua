-- The transport against a real Node.js under --inspect.
local memdbg = require("memdbg")
local core = require("memdbg._core")
local node = require("support.node")

local APP = [[
globalThis.counter = 0;
setInterval(() => { counter++; }, 50);
console.log("app ready");
]]

describe("transport against real Node", function()
  local app
  before_each(function() app = node.start { source = APP, ready = "app ready" } end)
  after_each(function() node.stop(app) end)

  it("lists the node target with its websocket URL", function()
    local targets = assert(memdbg.targets(app.endpoint))
    assert.are.equal(1, #targets)
    assert.are.equal("node", targets[1].type)
    assert.are.equal(app.ws, targets[1].webSocketDebuggerUrl)
  end)

  it("connects by http endpoint, by host:port and by ws URL, and evaluates 6*7", function()
    for _, ep in ipairs { app.endpoint, "127.0.0.1:" .. app.port, app.ws, "http://localhost:" .. app.port } do
      local s = assert(memdbg.connect { endpoint = ep })
      assert.are.equal("node", s.runtime)
      assert.are.equal(app.ws, s.url)
      local r = assert(s:sendCommand { method = "Runtime.evaluate",
        params = { expression = "6*7", returnByValue = true } })
      assert.are.equal(42, r.result.value)
      s:close()
    end
  end)

  it("delivers events: Runtime.enable brings executionContextCreated", function()
    local s = assert(memdbg.connect { endpoint = app.endpoint })
    local contexts, all = {}, 0
    s:subscribe("Runtime.executionContextCreated", function(p) contexts[#contexts + 1] = p.context end)
    local sub = s:subscribe(nil, function() all = all + 1 end)
    assert(s:sendCommand { method = "Runtime.enable" })
    assert.is_true(#contexts >= 1)
    assert.is_number(contexts[1].id)
    assert.is_true(all >= 1)
    sub:cancel()
    local before = all
    assert(s:sendCommand { method = "Runtime.evaluate", params = { expression = "console.log('x')" } })
    s:poll(0.2)
    assert.are.equal(before, all)
    s:close()
  end)

  it("reports the runtime's own error text as ECOMMAND", function()
    local s = assert(memdbg.connect { endpoint = app.endpoint })
    local r, err, code = s:sendCommand { method = "NoSuch.method" }
    assert.is_nil(r)
    assert.are.equal("ECOMMAND", code)
    assert.matches("NoSuch.method", err)
    s:close()
  end)

  it("steps without blocking and offers a pollable fd", function()
    local s = assert(memdbg.connect { endpoint = app.endpoint })
    assert.is_number(s:pollfd())
    assert.are.equal("r", s:events())
    local got
    local id = s:sendCommand { method = "Runtime.evaluate", params = { expression = "1+1", returnByValue = true },
      callback = function(r) got = r end }
    assert.is_number(id)
    local t0 = core.now()
    assert.is_true(s:step())
    assert.is_true(core.now() - t0 < 0.05)
    -- the reply may already have come within that step (commands go out at once)
    local t = s:timeout()
    assert.is_true(got ~= nil or (t ~= nil and t <= 10))
    local deadline = core.now() + 5
    while not got and core.now() < deadline do s:poll(0.05) end
    assert.are.equal(2, got.result.value)
    s:close()
  end)

  it("fails pending commands with ECLOSED when the runtime exits under the session", function()
    local s = assert(memdbg.connect { endpoint = app.endpoint })
    local got = {}
    s:sendCommand { method = "Runtime.evaluate", timeout = 30,
      params = { expression = "new Promise(() => {})", awaitPromise = true },
      callback = function(r, err, code) got = { r = r, err = err, code = code } end }
    require("support.proc").kill(app, "KILL")
    local ok, err, code = s:poll(5)
    assert.is_nil(ok)
    assert.are.equal("ECLOSED", code)
    assert.matches(app.ws, err, 1, true)
    assert.is_nil(got.r)
    assert.are.equal("ECLOSED", got.code)
    local r, _, code2 = s:sendCommand { method = "Runtime.evaluate", params = { expression = "1" } }
    assert.is_nil(r)
    assert.are.equal("ECLOSED", code2)
    s:close()
    s:close() -- idempotent
  end)

  if _VERSION == "Lua 5.1" then
    pending("closing through a to-be-closed variable: needs Lua 5.4 (this run is LuaJIT)")
  else
    it("closes through a to-be-closed variable", function()
      local s = assert(memdbg.connect { endpoint = app.endpoint })
      -- loaded from text so that this file also parses under LuaJIT
      local scope = assert(load("local s = ... do local c <close> = s end"))
      scope(s)
      assert.is_false(s:isOpen())
      local r, _, code = s:sendCommand { method = "Runtime.evaluate", params = { expression = "1" } }
      assert.is_nil(r)
      assert.are.equal("ECLOSED", code)
    end)
  end
end)

describe("connecting to nothing", function()
  it("names the endpoint and the fix for a refused connection", function()
    -- a port that was free a moment ago: bind, read it, release
    local f = io.popen([[node -e "const s=require('net').createServer().listen(0,'127.0.0.1',]]
      .. [[()=>{console.log(s.address().port);s.close()})"]])
    local port = f:read("n")
    f:close()
    local ep = "http://127.0.0.1:" .. port
    local s, err, code = memdbg.connect { endpoint = ep }
    assert.is_nil(s)
    assert.are.equal("ECONNREFUSED", code)
    assert.matches(ep, err, 1, true)
    assert.matches("--inspect", err, 1, true)
    local s2, err2, code2 = memdbg.connect { endpoint = "ws://127.0.0.1:" .. port .. "/x" }
    assert.is_nil(s2)
    assert.are.equal("ECONNREFUSED", code2)
    assert.matches("127.0.0.1:" .. port, err2, 1, true)
  end)
end)
