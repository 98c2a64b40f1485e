-- memdbg track on a real Node app (issue 14): per allocation site, what was
-- allocated and what of it is still alive in the timeline snapshot, at the
-- function's own 1-based line and column; a site without a script prints no
-- position (never ":1:1").
local node = require("support.node")
local run = require("support.run")
local json = require("cjson")

-- makeItems (line 2) allocates n objects and n strings,
-- and keeps every other object.
local APP = [[
globalThis.kept = [];
globalThis.makeItems = function makeItems(n) {
  for (let i = 0; i < n; i++) {
    const o = { i, text: 'x'.repeat(64) + i };
    if (i % 2 === 0) kept.push(o);
  }
  return n;
}
setInterval(() => {}, 1000); // stay up
console.log('ready');
]]

describe("memdbg track: live objects per allocation site (a Node app)", function()
  local app, dir

  setup(function()
    app = node.start { source = APP, ready = "ready" }
    dir = run.tmpdir()
  end)
  teardown(function()
    node.stop(app)
    run.rm(dir)
  end)

  it("--json: the site of the allocations, allocated and live, at its line and column", function()
    local code, out, err = run.memdbg { "track", "--endpoint", app.endpoint, "--action", "makeItems(4000)",
      "--out", dir .. "/t.heapsnapshot", "--top", "0", "--json", timeout = 120 }
    assert.equal(0, code, err)
    local doc = json.decode(out)
    local site
    for _, s in ipairs(doc.sites) do
      if s.functionName == "makeItems" then site = s end
    end
    assert.is_table(site, out)
    assert.matches("%.js$", site.url)
    assert.equal(2, site.line) -- V8's trace lines are 1-based already: not 3
    -- V8 places a function at its parameter list's "(", 1-based
    local line2 = APP:match("^[^\n]*\n([^\n]*)")
    assert.equal((line2:find("(", 1, true)), site.column)
    -- 4000 objects and their strings allocated; the kept half of the objects is live
    assert.is_true(site.count >= 4000, tostring(site.count))
    assert.is_true(site.liveCount >= 2000 and site.liveCount < site.count, tostring(site.liveCount))
    assert.is_true(site.liveSize > 2000 * 16 and site.selfSize > 0 and site.totalSize >= site.selfSize)
    -- a site without a script has no position at all
    for _, s in ipairs(doc.sites) do
      if s.url == "" then
        assert.is_nil(s.line, s.functionName)
        assert.is_nil(s.column, s.functionName)
      end
    end
  end)

  it("the text report has the live columns and url:line:column, and nothing at :1:1 without a script", function()
    local code, out, err = run.memdbg { "track", "--endpoint", app.endpoint, "--action", "makeItems(2000)",
      "--out", dir .. "/t2.heapsnapshot", "--top", "0", timeout = 120 }
    assert.equal(0, code, err)
    local text = out
    assert.matches("ALLOCATED%s+OBJECTS%s+WITH CALLEES%s+LIVE%s+LIVE OBJECTS%s+FUNCTION%s+WHERE", text)
    local row = text:match("[^\n]*makeItems[^\n]*")
    assert.truthy(row, text)
    assert.matches("%.js:2:%d+$", row)
    for line in text:gmatch("[^\n]+") do
      if line:find("(native)", 1, true) then assert.not_matches(":%d", line) end
      assert.not_matches("%(native%):1:1", line)
    end
  end)
end)
