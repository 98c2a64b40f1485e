-- Endpoints are parsed strictly (each bad form gets its own message, exit 2 in
-- the CLI), and "loopback" means the address a host resolves to.
local memdbg = require("memdbg")
local endpoint = require("memdbg.transport.endpoint")
local mock = require("support.mock")
local cli = require("support.cli")

-- form, what the message must say
local BAD = {
  { "", "empty" },
  { "http://", "no host" },
  { "ws://", "no host" },
  { "ftp://127.0.0.1:9229", "unsupported scheme 'ftp://'" },
  { "https://127.0.0.1:9229", "TLS is not supported" },
  { ":9229", "no host before the port" },
  { "127.0.0.1:", "empty port" },
  { "127.0.0.1:0", "from 1 to 65535" },
  { "127.0.0.1:65536", "from 1 to 65535" },
  { "0", "from 1 to 65535" },
  { "127.0.0.1:-1", "'-1'" },
  { "127.0.0.1:9229x", "'9229x'" },
  { "[::1]:abc", "'abc'" },
  { "[::1]x", "'x' after the address" },
  { "[::1", "unclosed" },
  { "[127.0.0.1]:9229", "not an IPv6 address" },
  { "::1:9229", "in brackets" },
  { "127.0.0.256", "not an IPv4 address" },
  { "127.0.0.999:9229", "not an IPv4 address" },
  { "127.1", "not an IPv4 address" },
  { "user@127.0.0.1:9229", "USER@HOST" },
  { "bad_host!:9229", "not a host name" },
  { "127.0.0.1:9229junk", "'9229junk'" },
  { "127.0.0.1 :9229", "space or a control character" },
  { "ws://127.0.0.1:9229/x\r\nX: y", "\\x0D\\x0A" },
  { "http:/127.0.0.1:9229", "not a URL" },
  { "http://127.0.0.1:9229" .. string.rep("/x", 600), "longer than" },
}

local GOOD = {
  { "9229", "http", "127.0.0.1", 9229, "/" },
  { "39957", "http", "127.0.0.1", 39957, "/" },
  { "localhost", "http", "localhost", 9229, "/" },
  { "LOCALHOST:1234", "http", "localhost", 1234, "/" },
  { "127.0.0.1:9229", "http", "127.0.0.1", 9229, "/" },
  { "http://127.0.0.1:9229/", "http", "127.0.0.1", 9229, "/" },
  { "HTTP://[::1]:9230", "http", "::1", 9230, "/" },
  { "[::1]", "http", "::1", 9229, "/" },
  { "ws://127.0.0.1:6499/bun", "ws", "127.0.0.1", 6499, "/bun" },
  { "ws://localhost/x?y=1", "ws", "localhost", 80, "/x?y=1" },
  { "my-host.example:9229", "http", "my-host.example", 9229, "/" },
}

describe("endpoint.parse", function()
  for _, case in ipairs(BAD) do
    it("refuses " .. endpoint.show(case[1]) .. " saying why", function()
      local ep, err = endpoint.parse(case[1])
      assert.is_nil(ep)
      assert.matches(case[2], err, 1, true)
      local ok, raised = pcall(memdbg.connect, { endpoint = case[1] })
      assert.is_false(ok)
      assert.matches(case[2], raised, 1, true)
    end)
  end

  for _, case in ipairs(GOOD) do
    it("reads " .. case[1], function()
      local ep = assert(endpoint.parse(case[1]))
      assert.are.same({ case[2], case[3], case[4], case[5] }, { ep.scheme, ep.host, ep.port, ep.path })
    end)
  end
end)

describe("the loopback rule", function()
  it("judges the address a name resolves to, not its spelling", function()
    -- 0xc0000201 is a name to the parser and 192.0.2.1 to the resolver
    local s, err, code = memdbg.connect { endpoint = "0xc0000201:9229", timeout = 2 }
    assert.is_nil(s)
    assert.are.equal("EREMOTE", code)
    assert.matches("0xc0000201 is 192.0.2.1", err, 1, true)
    local m = mock.start { runtime = "node" }
    finally(function() mock.stop(m) end)
    -- and 0x7f000001 is 127.0.0.1: allowed, though it does not look like loopback
    local ok = assert(memdbg.connect { endpoint = "0x7f000001:" .. m.port, timeout = 5 })
    ok:close()
  end)

  it("refuses a non-loopback literal unless allowRemote", function()
    local s, _, code = memdbg.connect { endpoint = "192.0.2.10:9229", timeout = 1 }
    assert.is_nil(s)
    assert.are.equal("EREMOTE", code)
    local t, _, tcode = memdbg.targets("[2001:db8::1]:9229")
    assert.is_nil(t)
    assert.are.equal("EREMOTE", tcode)
  end)
end)

describe("the CLI on a bad endpoint", function()
  it("exits 2 with the reason for every bad form, never an internal error", function()
    for _, case in ipairs { BAD[1], BAD[2], BAD[4], BAD[8], BAD[11], BAD[14], BAD[18], BAD[25] } do
      local code, _, err = cli.memdbg("usage", "--endpoint", case[1])
      assert.are.equal(2, code, endpoint.show(case[1]) .. ": " .. err)
      assert.matches(case[2], err, 1, true)
    end
    local code, _, err = cli.memdbg("targets", "--endpoint", "127.0.0.1:0")
    assert.are.equal(2, code, err)
  end)
end)
