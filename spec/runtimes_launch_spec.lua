-- Starts each real runtime with spec/support/runtimes.lua, checks its inspector
-- discovery answers and its app, stops it and checks nothing is left running.
-- A runtime that is not installed shows as pending, by name
-- (tools/install-runtimes.sh installs them all).
local runtimes = require("support.runtimes")

local WS_UUID = "^ws://127%.0%.0%.1:(%d+)/%x+%-%x+%-%x+%-%x+%-%x+$"
local startups = {}

local function report(kind, rt)
  startups[#startups + 1] = string.format("%s %.2f s", kind, rt.startup)
end

-- What /json/version, /json/list and the chosen target look like, per runtime.
local discovery = {
  node = function(rt)
    assert.matches("^node%.js/v%d+", rt.version.Browser)
    assert.equal("node", rt.target.type)
    local port = rt.ws:match(WS_UUID)
    assert.equal(rt.port, tonumber(port))
  end,
  chromium = function(rt)
    assert.matches("^Chrome/%d+", rt.version.Browser)
    assert.equal(rt.browserWs, rt.version.webSocketDebuggerUrl)
    assert.matches("^ws://127%.0%.0%.1:" .. rt.port .. "/devtools/browser/[%x%-]+$", rt.browserWs)
    assert.equal("page", rt.target.type)
    assert.matches("/spec/apps/chromium/app%.html%?mode=leaky$", rt.target.url)
    assert.equal("memdbg app: leaky", rt.target.title)
    assert.matches("^ws://127%.0%.0%.1:" .. rt.port .. "/devtools/page/%x+$", rt.ws)
    -- the browser websocket answers too (it serves Target.*, not the heap)
    assert.equal(101, runtimes.ws_handshake(rt.browserWs))
  end,
  deno = function(rt)
    assert.matches("^Deno/%d+%.%d+", rt.version.Browser)
    assert.equal("node", rt.target.type)
    assert.matches("^deno %- main %[pid: %d+%]$", rt.target.title)
    assert.equal(rt.port, tonumber(rt.ws:match(WS_UUID)))
  end,
  wrangler = function(rt)
    assert.matches("^wrangler/v4%.", rt.version.Browser)
    assert.equal(1, #rt.targets)
    assert.equal("Cloudflare Worker", rt.target.title)
    assert.equal("ws://127.0.0.1:" .. rt.port .. "/ws", rt.ws)
  end,
  workerd = function(rt)
    assert.equal("workerd", rt.version.Browser)
    assert.equal("memdbg-app", rt.target.id)
    assert.equal("ws://127.0.0.1:" .. rt.port .. "/memdbg-app", rt.ws)
  end,
  bun = function(rt)
    assert.is_nil(rt.endpoint)
    assert.equal("ws://127.0.0.1:" .. rt.port .. "/memdbg", rt.ws)
    -- WebKit inspector: no target list, a /json/version without a ws URL
    local _, status = runtimes.http_get("http://127.0.0.1:" .. rt.port .. "/json/list")
    assert.equal(404, status)
    assert.equal("Bun", rt.version.Browser)
    assert.is_nil(rt.version.webSocketDebuggerUrl)
  end,
}

local function assert_gone(rt)
  assert.is_false(runtimes.alive(rt), rt.kind .. " pid " .. rt.pid .. " still running")
  assert.same({}, runtimes.leftovers(rt))
  if rt.tmpdir then
    assert.is_nil(io.open(rt.tmpdir .. "/."), "temp dir " .. rt.tmpdir .. " left behind")
  end
end

describe("runtime launchers", function()
  teardown(function()
    if #startups > 0 then
      io.stderr:write("\nruntime startup times: " .. table.concat(startups, ", ") .. "\n")
    end
  end)

  for _, kind in ipairs(runtimes.kinds) do
    describe(kind, function()
      it("starts the leaky app, answers discovery and traffic, and stops by PID", function()
        local ok, why = runtimes.available(kind)
        if not ok then
          pending(kind .. " not installed: " .. why)
          return
        end
        local rt = runtimes.start(kind, { app = "leaky" })
        finally(function() runtimes.stop(rt) end)
        report(kind, rt)
        assert.is_number(rt.pid)
        assert.equal(kind, rt.kind)
        assert.is_true(runtimes.alive(rt))
        assert.is_true(rt.startup < 30)

        discovery[kind](rt)
        assert.equal(101, runtimes.ws_handshake(rt.ws), "websocket handshake to " .. rt.ws)

        if rt.http then
          local body, status = runtimes.request(rt, "/")
          assert.equal(200, status)
          assert.equal("ok leaky\n", body)
          body, status = runtimes.request(rt, "/work?n=100")
          assert.equal(200, status)
          local stats = runtimes.decode(body)
          assert.same({ mode = "leaky", handled = 100, retained = 100 }, stats)
        else
          assert.equal("chromium", kind) -- the page is driven by evaluate only
        end

        runtimes.stop(rt)
        assert_gone(rt)
      end)

      if kind ~= "chromium" then
        it("runs the clean app: the same work, nothing retained", function()
          local ok, why = runtimes.available(kind)
          if not ok then
            pending(kind .. " not installed: " .. why)
            return
          end
          local rt = runtimes.start(kind, { app = "clean" })
          finally(function() runtimes.stop(rt) end)
          runtimes.request(rt, "/work?n=50")
          local body = runtimes.request(rt, "/work?n=50")
          assert.same({ mode = "clean", handled = 100, retained = 0 }, runtimes.decode(body))
          runtimes.stop(rt)
          assert_gone(rt)
        end)
      else
        it("loads the detached-DOM page", function()
          local ok, why = runtimes.available(kind)
          if not ok then
            pending(kind .. " not installed: " .. why)
            return
          end
          local rt = runtimes.start(kind, { app = "detached" })
          finally(function() runtimes.stop(rt) end)
          assert.equal("memdbg app: detached", rt.target.title)
          assert.matches("%?mode=detached$", rt.target.url)
          runtimes.stop(rt)
          assert_gone(rt)
        end)
      end
    end)
  end

  it("refuses an unknown kind and an unknown app mode", function()
    assert.has_error(function() runtimes.start("rhino") end)
    assert.has_error(function() runtimes.start("node", { app = "detached" }) end)
  end)
end)
