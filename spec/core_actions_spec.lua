-- The C pieces of the leak hunt's outside actions (csrc/core/spawn.c,
-- httpload.c) on their own: a shell command's exit, tail and process group;
-- HTTP/1.1 bodies of every framing, statuses, keep-alive, refused connects.
-- In the valgrind subset.
local node = require("support.node")
local proc = require("support.proc")
local runtimes = require("support.runtimes")
local core = require("memdbg._core")

local SERVER = "spec/apps/actions/server.js"

local function start(mode)
  local h = node.start { script = SERVER, args = { mode }, ready = "orders ready" }
  h.http = proc.wait_for(h, "orders ready mode=%w+ http=(http://127%.0%.0%.1:%d+)")
  return h
end

describe("core.spawn", function()
  local function finish(p, limit)
    local deadline = core.now() + (limit or 10)
    while core.now() < deadline do
      local code, sig = p:wait(0.1)
      if code or sig then return code, sig end
    end
    error("the command did not end")
  end

  it("gives the exit status and the tail of stderr", function()
    local p = assert(core.spawn("echo to-stdout; echo first >&2; echo last >&2; exit 7"))
    assert.equal(7, (finish(p)))
    assert.equal("first\nlast\n", p:tail())
    assert.is_nil(p:pid())
    p:close()
    p:close() -- twice is fine
  end)

  it("keeps only the last 4 KB of a long stderr", function()
    -- 60 lines of 100 bytes: 6,000 bytes, of which the last 4,096 are kept
    local p = assert(core.spawn("i=10; while [ $i -lt 70 ]; do printf 'line-%02d-%091d\\n' $i 0 >&2; i=$((i+1)); done"))
    assert.equal(0, (finish(p)))
    local tail = p:tail()
    assert.equal(4096, #tail)
    assert.matches("\nline%-69%-0+\n$", tail)
    assert.is_nil(tail:find("line-28", 1, true)) -- 6,000 - 4,096 = 1,904 bytes dropped: lines 10-28 and part of 29
    p:close()
  end)

  it("kill() ends the whole process group; a signal death has no exit code", function()
    local pidfile = os.tmpname()
    finally(function() os.remove(pidfile) end)
    local p = assert(core.spawn("sleep 60 & echo $! > " .. pidfile .. "; wait"))
    local child
    for _ = 1, 100 do
      local f = io.open(pidfile)
      child = f and tonumber(f:read("a"):match("%d+"))
      if f then f:close() end
      if child then break end
      proc.sleep(0.02)
    end
    assert.is_number(child)
    p:kill(15)
    local code, sig = finish(p)
    assert.is_nil(code)
    assert.equal(15, sig)
    for _ = 1, 50 do
      if not proc.alive { pid = child } then break end
      proc.sleep(0.02)
    end
    assert.is_false(proc.alive { pid = child })
    p:close()
  end)

  it("close() kills a command still running", function()
    local p = assert(core.spawn("sleep 60"))
    local pid = p:pid()
    p:close()
    assert.is_false(proc.alive { pid = pid })
  end)
end)

describe("core.httpLoad", function()
  local app
  setup(function() app = start("clean") end)
  teardown(function() node.stop(app) end)

  local function load(path, o)
    o = o or {}
    local port = tonumber(app.http:match(":(%d+)$"))
    local l = assert(core.httpLoad { host = "127.0.0.1", port = port, path = path, method = o.method, body = o.body,
      contentType = o.contentType, requests = o.requests or 20, concurrency = o.concurrency or 3 })
    local deadline = core.now() + 10
    while not l:step(0.1) do assert.is_true(core.now() < deadline, "stalled on " .. path) end
    local r = l:result()
    l:close()
    return r
  end

  it("reads chunked, Connection: close and until-close bodies, and counts statuses", function()
    assert.same({ ["200"] = 20 }, load("/chunked").statuses)
    local r = load("/close")
    assert.same({ ["200"] = 20 }, r.statuses)
    assert.equal(20, r.connections)
    assert.same({ ["200"] = 20 }, load("/old").statuses)
    assert.same({ ["503"] = 20 }, load("/status?code=503").statuses)
    r = load("/orders", { method = "POST", body = '{"a":1}', contentType = "application/json" })
    assert.same({ ["201"] = 20 }, r.statuses)
    r = load("/orders", { requests = 300, concurrency = 5 })
    assert.same({ ["200"] = 300 }, r.statuses)
    assert.equal(5, r.connections, "keep-alive")
  end)

  it("counts refused connections as errors", function()
    local port = runtimes.free_ports(1)
    local l = assert(core.httpLoad { host = "127.0.0.1", port = port, path = "/", requests = 5, concurrency = 2 })
    local deadline = core.now() + 5
    while not l:step(0.1) do assert.is_true(core.now() < deadline) end
    local r = l:result()
    l:close()
    assert.equal(5, r.errors)
    assert.matches("refused", r.firstError)
  end)
end)
