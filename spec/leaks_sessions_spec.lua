-- Snapshots from separate profiling sessions, as a user takes them with two
-- `memdbg snapshot` runs and requests in between: V8 numbers objects afresh
-- in each session, so ids cannot match objects. diff says so and compares
-- classes; find-leaks refuses with EIDS. One session's snapshots match by id.
local json = require("cjson")
local proc = require("support.proc")
local shared = require("support.cli")
local memdbg = require("memdbg")

local APP = "spec/apps/leaks/app.mjs"

local function start_app()
  local h = proc.spawn { argv = { "node", "--inspect=127.0.0.1:0", APP, "map", "leaky" } }
  local _, port = proc.wait_for(h, "Debugger listening on (ws://127%.0%.0%.1:(%d+)/[%w%-]+)", 20)
  h.endpoint = "http://127.0.0.1:" .. port
  h.http = proc.wait_for(h, "memdbg%-leak%-app ready pattern=map mode=leaky http=(http://127%.0%.0%.1:%d+)", 20)
  return h
end

local function get(url)
  local p = assert(io.popen("env -u LD_PRELOAD curl -s --noproxy '*' -m 10 " .. proc.quote(url)))
  local body = p:read("a")
  p:close()
  return json.decode(body)
end

describe("snapshots of separate sessions (Node)", function()
  local app, dir
  setup(function()
    app = start_app()
    local p = io.popen("mktemp -d /tmp/memdbg-sessions.XXXXXX")
    dir = p:read("l")
    p:close()
  end)
  teardown(function()
    proc.stop(app)
    if dir then os.execute("rm -rf " .. proc.quote(dir)) end
  end)

  it("diff compares by class and says so; find-leaks refuses with EIDS naming the fix", function()
    local a, b = dir .. "/a.heapsnapshot", dir .. "/b.heapsnapshot"
    assert.equal(0, (shared.memdbg("snapshot", "--endpoint", app.endpoint, "--out", a)))
    local before = get(app.http .. "/stats").held
    assert.equal(before + 50, get(app.http .. "/work?n=50").held)
    assert.equal(0, (shared.memdbg("snapshot", "--endpoint", app.endpoint, "--out", b)))
    local code, out, err = shared.memdbg("diff", "--json", "--top", "0", a, b)
    assert.equal(0, code, err)
    local doc = json.decode(out)
    assert.equal("class", doc.matchedBy)
    local row = shared.class_row(doc.classes, "CachedPage")
    assert.is_table(row, out)
    assert.equal(50, row.delta) -- the 50 pages cached between the snapshots, not a count of reused ids
    code, out = shared.memdbg("diff", a, b)
    assert.equal(0, code)
    assert.matches("renumbered", out)
    code, out, err = shared.memdbg("find-leaks", a, b, b)
    assert.equal(3, code, out)
    assert.matches("EIDS", err)
    assert.matches("memdbg leaks", err, 1, true)
  end)

  it("one session's snapshots match by id: the 50 new pages are new objects", function()
    local s = assert(memdbg.connect { endpoint = app.endpoint })
    local a, b = dir .. "/s1.heapsnapshot", dir .. "/s2.heapsnapshot"
    assert(s.memory:takeHeapSnapshot { path = a })
    assert(s.memory:evaluate("handleRequests(50)", { awaitPromise = true }))
    assert(s.memory:takeHeapSnapshot { path = b })
    s:close()
    local code, out, err = shared.memdbg("diff", "--json", "--top", "0", a, b)
    assert.equal(0, code, err)
    local doc = json.decode(out)
    assert.equal("id", doc.matchedBy)
    local row = shared.class_row(doc.classes, "CachedPage")
    assert.same({ 50, 0 }, { row.new, row.deleted })
  end)
end)
