-- memdbg against Chrome DevTools' own heap-snapshot code (npm
-- chrome-devtools-frontend, bundled for Node by bench/devtools/build.mjs),
-- node by node, on a real snapshot of a small Node.js program taken here:
-- every class (count, shallow size, distance) and every node's retained
-- size, distance, dominator, self size and class must be DevTools'.
-- bench/conformance-devtools runs the same comparison on big real programs.
local heap = require "memdbg.analysis.heap"
local fx = require "support.heapfixture"
local cjson = require "cjson"

local root = "."
-- both pinned in tools/js (tools/install-runtimes.sh)
local have = fx.have_node() and io.open(root .. "/tools/js/node_modules/chrome-devtools-frontend/package.json") ~= nil
  and io.open(root .. "/tools/js/node_modules/esbuild/package.json") ~= nil
local describe_dt = have and describe
  or function(name) pending(name .. ": needs node and tools/js/node_modules (tools/install-runtimes.sh)") end

local function sh(cmd)
  -- node must not inherit a sanitizer preload
  local p = io.popen("env -u LD_PRELOAD -u ASAN_OPTIONS " .. cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return ok, out, code
end

describe_dt("conformance with Chrome DevTools' heap snapshot code", function()
  local dir, file

  setup(function()
    dir = fx.tmpdir()
    local ok, out = sh("node " .. root .. "/bench/devtools/build.mjs")
    assert(ok, out)
    -- a program with what DevTools names specially: same-named classes at two places, plain objects
    -- by shape, a Map (its table's size moves into it), a WeakMap, closures and regexps
    ok, out = fx.node(dir, [==[
      const v8 = require('v8');
      const A = (() => class Item { constructor(i) { this.i = i; } })();
      const B = (() => class Item { constructor(i) { this.j = i; this.k = [i]; } })();
      globalThis.items = [];
      for (let i = 0; i < 300; i++) items.push(new A(i), new B(i), { sources: [i], targets: [i] });
      globalThis.cache = new Map(items.map((x, i) => [i, x]));
      globalThis.wm = new WeakMap(items.slice(0, 100).map(x => [x, { v: x }]));
      globalThis.fns = items.map(x => () => x);
      globalThis.re = /ab+c/g;
      v8.writeHeapSnapshot('conf.heapsnapshot');
    ]==])
    assert(ok, out)
    file = dir .. "/conf.heapsnapshot"
  end)

  teardown(fx.cleanup)

  it("gives every class and every node DevTools' numbers", function()
    local snap = assert(heap.load(file))
    local cols, names, locs = snap._ud:_columns()
    for k, v in pairs(cols) do fx.write(dir .. "/m." .. k, v) end
    local lines = {}
    for i, name in ipairs(names) do
      lines[i] = name:gsub("[\t\n]", " ") .. "\t" .. (locs[i] and table.concat(locs[i], ",") or "-") .. "\n"
    end
    fx.write(dir .. "/m.classes", table.concat(lines))
    local rows = {} -- DevTools' class keys ("script,line,column,name", 0-based) and retained sizes
    for _, r in ipairs(snap:summary { top = 0 }) do
      local l = r.location
      rows[#rows + 1] = string.format("%s%s\t%d\n", l and string.format("%d,%d,%d,", l.scriptId, l.line - 1,
        l.column - 1) or ",", r.name, r.retainedSize)
    end
    fx.write(dir .. "/m.summary", table.concat(rows))
    -- the same-named classes are split by location, the plain objects named by shape
    local items, shaped = 0, false
    for _, r in ipairs(snap:summary { top = 0 }) do
      if r.name == "Item" then
        items = items + 1
        assert.are.equal(300, r.count)
        assert.are.equal(dir .. "/app.js", r.location.url)
      end
      shaped = shaped or r.name == "{sources, targets}"
    end
    assert.are.equal(2, items)
    assert.is_true(shaped)
    snap:close()
    local ok, out = sh("node " .. root .. "/bench/conformance-devtools.mjs " .. file .. " --json --memdbg " .. dir .. "/m")
    local doc = cjson.decode(out:match("\n(%b{})%s*$"))
    assert(ok, out)
    assert.are.equal(0, doc.classesDiffer, out)
    assert.is_true(doc.classes > 100)
    for _, k in ipairs { "retainedEqual", "distanceEqual", "dominatorEqual", "selfEqual", "classEqual" } do
      assert.are.equal(doc.nodes, doc[k], k .. "\n" .. out)
    end
  end)
end)
