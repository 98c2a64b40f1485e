-- Every isolate (issue 16), against the real runtimes: Node worker_threads
-- and Deno Workers through the NodeWorker domain, a Chromium page's dedicated
-- worker and cross-site iframe through flat Target sessions, its service
-- and shared workers (browser-level targets); children(),
-- attach(), every memory operation on a child (the snapshot through the C
-- sink), --target by a child's title, `usage --all`, `targets --children`,
-- `leaks --all`, children that go away; and what Bun and workerd say.
-- The apps are spec/apps/isolates/ (app.js serves the Chromium pages too).
local runtimes = require("support.runtimes")
local memdbg = require("memdbg")
local heap = require("memdbg.analysis.heap")
local json = require("cjson")
local files = require("memdbg.util.files")
local verify = require("memdbg.workflows.verify_cleanup")
local shared = require("support.cli")
local cli, file_size, class_row = shared.memdbg, shared.file_size, shared.class_row

local q = files.quote
local APP = runtimes.apps .. "/isolates/app.js"
-- the string the worker holds (app.js): every escape a snapshot string has
local TRICKY = "quote\" backslash\\ slash/ newline\n tab\t \195\169 \226\152\131 \240\157\132\158 \226\128\168 \1 end"

local function mode_of(path)
  local p = io.popen("stat -c %a " .. q(path))
  local m = p:read("*l")
  p:close()
  return m
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function find(list, pred)
  for _, x in ipairs(list) do if pred(x) then return x end end
end

local function of_type(t) return function(x) return x.type == t end end

-- The groups that count (runtime-internal ones are listed but do not).
local function counted(leaks)
  local out = {}
  for _, g in ipairs(leaks or {}) do if not g.runtimeInternal then out[#out + 1] = g.class end end
  return out
end

-- Waits until fn() is true, servicing the session meanwhile.
local function poll_until(s, fn, seconds)
  local deadline = runtimes.now() + (seconds or 5)
  while not fn() do
    if runtimes.now() > deadline then return false end
    s:poll(0.05)
  end
  return true
end

-- Searches a sampling profile's tree for a frame whose url contains `url`.
local function has_frame(node, url)
  if type(node) ~= "table" then return false end
  if node.callFrame and tostring(node.callFrame.url):find(url, 1, true) then return true end
  for _, c in ipairs(node.children or {}) do if has_frame(c, url) then return true end end
  return false
end

local function stop(rt, s, dir)
  if s then s:close() end
  if rt then
    runtimes.stop(rt)
    assert(not runtimes.alive(rt), rt.kind .. " is still running")
  end
  if dir then os.execute("rm -rf " .. q(dir)) end
end

local function pending_file(name, kind)
  local ok, why = runtimes.available(kind)
  if not ok then
    describe(name, function() pending(kind .. " not installed: " .. tostring(why)) end)
  end
  return ok
end

if pending_file("Node worker_threads", "node") then
  describe("Node worker_threads", function()
    local rt, s, dir

    setup(function()
      rt = runtimes.start("node", { script = APP, app = "isolates" })
      s = assert(memdbg.connect { endpoint = rt.endpoint })
      dir = assert(files.tempdir("memdbg-isolates"))
    end)
    teardown(function() stop(rt, s, dir) end)

    it("children() lists the worker; attach() gives a session with its own sendCommand, subscribe, memory and close",
      function()
        local kids = assert(s:children())
        assert.equal(1, #kids)
        local k = kids[1]
        assert.equal("worker", k.type)
        assert.equal("string", type(k.id))
        assert.truthy(k.title:find("leaky-worker", 1, true), k.title)
        assert.equal("file://" .. APP, k.url)
        local w = assert(s:attach(k.id))
        assert.equal(k.id, w.isolate.id)
        -- commands go to the worker's isolate (only it has `tricky`), not the main thread's
        local r = assert(w:sendCommand { method = "Runtime.evaluate",
          params = { expression = "typeof tricky", returnByValue = true } })
        assert.equal("string", r.result.value)
        assert.equal("undefined", assert(s.memory:evaluate("typeof tricky")))
        -- non-ASCII survives NodeWorker.sendMessageToWorker both ways
        assert.equal("\195\169\226\152\131\240\157\132\158", assert(w.memory:evaluate('"\195\169\226\152\131\240\157\132\158"')))
        -- events of the worker reach the worker's subscribers only
        local mine, parents = {}, {}
        w:subscribe("Runtime.consoleAPICalled", function(p) mine[#mine + 1] = p.args[1].value end)
        s:subscribe("Runtime.consoleAPICalled", function(p) parents[#parents + 1] = p.args[1].value end)
        assert(w:sendCommand { method = "Runtime.enable" })
        assert(s:sendCommand { method = "Runtime.enable" })
        assert(w.memory:evaluate("console.log('from the worker'), 1"))
        assert.is_true(poll_until(w, function() return #mine > 0 end))
        assert.same({ "from the worker" }, mine)
        -- (the main thread's Runtime.enable replays its own earlier console lines)
        assert.is_nil(find(parents, function(x) return x == "from the worker" end))
        assert.is_true(assert(w.memory:getHeapUsage()).usedSize > 0)
        assert.is_true(assert(w.memory:collectGarbage()))
        w:close()
        assert.is_false(w:isOpen())
        local none, err, code = w:sendCommand { method = "Runtime.evaluate", params = { expression = "1" } }
        assert.is_nil(none)
        assert.equal("ECLOSED", code, err)
        assert.is_true(s:isOpen())
        assert.equal(2, assert(s.memory:evaluate("1+1")))
        -- a closed child attaches again
        assert.equal("string", assert(assert(s:attach(k.id)).memory:evaluate("typeof tricky")))
        local bad
        bad, err, code = s:attach("no-such-worker")
        assert.is_nil(bad)
        assert.equal("ENOTARGET", code)
        assert.truthy(err:find("leaky-worker", 1, true), err)
      end)

    it("every memory operation on the worker: snapshot through the C sink, sampling, tracking, verify", function()
      local w = assert(s:attach(assert(s:children())[1].id))
      assert(s.memory:evaluate("send(300)"))
      local seen = 0
      w:subscribe("HeapProfiler.addHeapSnapshotChunk", function() seen = seen + 1 end)
      local path = dir .. "/worker.heapsnapshot"
      local info = assert(w.memory:takeHeapSnapshot { path = path })
      assert.is_true(info.chunks > 1)
      assert.equal(0, seen) -- every chunk went to the file in C, unwrapped twice
      assert.equal(info.bytes, file_size(path))
      assert.equal("600", mode_of(path))
      assert.is_false(exists(path .. ".partial"))
      -- the file is the worker's heap, and the C sink's two unescapings give
      -- what Lua's two JSON decodings give (a second snapshot, through onChunk)
      local function tricky_of(text)
        return find(json.decode(text).strings, function(x) return x:sub(1, 6) == "quote\"" end)
      end
      local parts = {}
      assert(w.memory:takeHeapSnapshot { onChunk = function(t) parts[#parts + 1] = t end })
      local in_lua, in_c = tricky_of(table.concat(parts)), tricky_of(shared.read(path))
      parts = nil -- luacheck: ignore 311
      assert.equal(in_lua, in_c)
      -- (V8 writes the astral character as one \\uD11E: its own way, kept as is)
      assert.equal(TRICKY:match("^(.-) \240"), in_c:match("^(.-) \237"))
      local snap = assert(heap.load(path))
      local row = class_row(snap:summary {}, "WorkerRecord")
      snap:close()
      assert.is_true(row and row.count >= 300, "WorkerRecord in the worker's snapshot")
      local main = dir .. "/main.heapsnapshot"
      assert(s.memory:takeHeapSnapshot { path = main })
      snap = assert(heap.load(main))
      assert.is_nil(class_row(snap:summary {}, "WorkerRecord"))
      snap:close()

      assert(w.memory:startSamplingHeapProfiler { samplingInterval = 512 })
      assert(s.memory:evaluate("send(3000)"))
      local profile = assert(w.memory:stopSamplingHeapProfiler())
      assert.is_true(has_frame(profile.head, "isolates/app.js"), "a sampled allocation in app.js's worker code")

      assert(w.memory:startTrackingAllocations())
      assert(s.memory:evaluate("send(300)"))
      local tr = assert(w.memory:stopTrackingAllocations { path = dir .. "/track.heapsnapshot" })
      assert.truthy(find(tr.sites or {}, function(x) return tostring(x.url):find("isolates/app.js", 1, true) end),
        "an allocation site in app.js")

      local alloc = "globalThis.tmp = Array.from({ length: 30000 }, (_, i) => ({ i, s: 'x' + i })), 1"
      local r = assert(verify.run(w, { allocate = alloc, cleanup = "globalThis.tmp = null, 1" }))
      assert.is_true(r.released, verify.format(r))
      r = assert(verify.run(w, { allocate = alloc, cleanup = "void 0" }))
      assert.is_false(r.released, verify.format(r))
      w:close()
    end)

    it("CLI: usage --all (text and --json), targets --children, --target by the worker's title", function()
      local code, out, err = cli("usage", "--all", "--json", "--endpoint", rt.endpoint)
      assert.equal(0, code, err)
      local doc = json.decode(out)
      local keys = {}
      for k in pairs(doc) do keys[#keys + 1] = k end
      table.sort(keys)
      assert.same({ "isolates", "total" }, keys)
      assert.equal(2, #doc.isolates)
      local sum = { usedSize = 0, totalSize = 0 }
      for i, iso in ipairs(doc.isolates) do
        local ik = {}
        for k in pairs(iso) do ik[#ik + 1] = k end
        table.sort(ik)
        assert.same({ "id", "title", "totalSize", "type", "usedSize" }, ik)
        assert.is_true(iso.usedSize > 0 and iso.totalSize >= iso.usedSize, "row " .. i)
        sum.usedSize, sum.totalSize = sum.usedSize + iso.usedSize, sum.totalSize + iso.totalSize
      end
      assert.equal(rt.target.id, doc.isolates[1].id)
      assert.equal("node", doc.isolates[1].type)
      assert.equal("worker", doc.isolates[2].type)
      assert.same(sum, doc.total)
      code, out, err = cli("usage", "--all", "--endpoint", rt.endpoint)
      assert.equal(0, code, err)
      assert.truthy(out:find("\nworker .-leaky%-worker"), out)
      assert.truthy(out:find("\ntotal .-2 isolates"), out)

      code, out, err = cli("targets", "--children", "--json", "--endpoint", rt.endpoint)
      assert.equal(0, code, err)
      doc = json.decode(out)
      assert.equal(1, #doc.targets)
      assert.equal(1, #doc.targets[1].children)
      assert.equal("worker", doc.targets[1].children[1].type)

      -- --target names the worker by its title: the snapshot is the worker's heap
      local path = dir .. "/by-title.heapsnapshot"
      code, out, err = cli("snapshot", "--target", "leaky-worker", "--endpoint", rt.endpoint, "--out", path)
      assert.equal(0, code, err .. out)
      local snap = assert(heap.load(path))
      assert.is_table(class_row(snap:summary {}, "WorkerRecord"))
      snap:close()
      code, out, err = cli("usage", "--target", "no-such-isolate", "--endpoint", rt.endpoint)
      assert.equal(3, code, out)
      assert.truthy(err:find("ENOTARGET", 1, true), err)
      assert.truthy(err:find("leaky-worker", 1, true), err)
    end)

    it("leaks --all: one action, a hunt per isolate; WorkerRecord is named under the worker only", function()
      local code, out, err = cli("leaks", "--all", "--action", "send(200)", "--json", "--endpoint", rt.endpoint)
      assert.equal(1, code, err)
      local doc = json.decode(out)
      assert.equal(2, #doc.isolates)
      assert.equal(2, #doc.actions)
      local main, worker = doc.isolates[1], doc.isolates[2]
      assert.is_true(main.main)
      assert.equal("worker", worker.type)
      assert.same({}, counted(main.leaks))
      assert.is_nil(find(main.leaks, function(g) return g.class == "WorkerRecord" end))
      local g = worker.leaks[1]
      assert.equal("WorkerRecord", g.class, out)
      assert.equal(200, g.count)
      assert.same({ 200, 200 }, g.growth)
      assert.truthy(tostring(g.location.url):find("isolates/app.js", 1, true), g.location.url)
      -- what did not leak is removed; the worker's snapshots stay
      for _, p in ipairs(main.snapshots) do assert.is_false(exists(p), p) end
      for _, p in ipairs(worker.snapshots) do assert.is_true(exists(p), p) end
      os.execute("rm -rf " .. q(worker.snapshots[1]:match("^(.*)/[^/]+/[^/]+$")))
    end)

    it("a worker that goes away: its pending commands end at once, later ones fail with ECLOSED; the parent stays usable",
      function()
        local w = assert(s:attach(assert(s:children())[1].id))
        assert(w.memory:getHeapUsage())
        -- in flight when the worker is terminated: V8 answers some itself (an
        -- error, or the value), the rest fail with ECLOSED when the worker's
        -- session ends; none is left waiting
        local got = {}
        local function cmd(expr, await)
          w:sendCommand { method = "Runtime.evaluate", params = { expression = expr, awaitPromise = await },
            callback = function(...) got[#got + 1] = { ... } end }
        end
        cmd("new Promise(() => {})", true)
        s:sendCommand { method = "Runtime.evaluate", params = { expression = "terminateWorker()" },
          callback = function() end }
        cmd("1")
        cmd("2")
        assert.is_true(poll_until(s, function() return #got == 3 end, 2), "every command ended")
        for _, g in ipairs(got) do
          assert.is_true(g[1] ~= nil or g[3] == "ECOMMAND" or g[3] == "ECLOSED", tostring(g[2]))
          if g[3] == "ECLOSED" then assert.truthy(g[2]:find("went away", 1, true), g[2]) end
        end
        assert.is_true(poll_until(s, function() return not w:isOpen() end))
        local none, err, code = w:sendCommand { method = "Runtime.evaluate", params = { expression = "1" } }
        assert.is_nil(none)
        assert.equal("ECLOSED", code, err)
        assert.truthy(err:find("went away", 1, true), err)
        assert.same({}, assert(s:children()))
        assert.equal(2, assert(s.memory:evaluate("1+1")))

      -- terminated while its snapshot streams: Node finishes the snapshot first,
      -- then the worker goes; the file is whole and the child closes
      assert(s.memory:evaluate("startWorker()"))
      assert.is_true(poll_until(s, function() return #assert(s:children()) == 1 end))
      w = assert(s:attach(assert(s:children())[1].id))
      assert(s.memory:evaluate("send(20000)"))
      local asked
      local path = dir .. "/terminated.heapsnapshot"
      local info
      info, err, code = w.memory:takeHeapSnapshot { path = path, onBytes = function()
        if asked then return end
        asked = true
        s:sendCommand { method = "Runtime.evaluate", params = { expression = "terminateWorker()" },
          callback = function() end }
      end }
      assert.is_table(info, tostring(err) .. " " .. tostring(code))
      assert.is_true(asked)
      assert.equal(info.bytes, file_size(path))
      local snap = assert(heap.load(path))
      snap:close()
      assert.is_true(poll_until(s, function() return not w:isOpen() end))
      none, err, code = w.memory:getHeapUsage()
      assert.is_nil(none)
      assert.equal("ECLOSED", code, err)
      assert.equal(2, assert(s.memory:evaluate("1+1")))
      assert.equal(0, assert(s.memory:evaluate("workerCount()")))
    end)
  end)
end

if pending_file("Chromium page with a dedicated worker and a cross-site iframe", "chromium") then
  describe("Chromium page with a dedicated worker and a cross-site iframe", function()
    local app, rt, s, dir

    setup(function()
      app = runtimes.start("node", { script = APP, app = "isolates" })
      -- localhost and 127.0.0.1 are different sites: headless Chromium runs
      -- the iframe in a process (an isolate) of its own
      rt = runtimes.start("chromium", { url = app.http .. "/page.html", title = "memdbg isolates" })
      s = assert(memdbg.connect { endpoint = rt.endpoint, target = rt.target.id })
      dir = assert(files.tempdir("memdbg-isolates"))
    end)
    teardown(function()
      stop(rt, s, dir)
      stop(app)
    end)

    it("children() lists the worker and the iframe; each answers as its own isolate", function()
      local kids = assert(s:children())
      assert.equal(2, #kids)
      local wk, fr = find(kids, of_type("worker")), find(kids, of_type("iframe"))
      assert.equal("leaky-worker", wk.title)
      assert.equal(app.http .. "/worker.js", wk.url)
      assert.equal(app.http:gsub("127%.0%.0%.1", "localhost") .. "/frame.html", fr.url)
      local w, f = assert(s:attach(wk.id)), assert(s:attach(fr.id))
      assert.equal("undefined", assert(w.memory:evaluate("typeof document")))
      assert.equal("memdbg isolates frame", assert(f.memory:evaluate("document.title")))
      assert.equal(1, assert(f.memory:evaluate("records.length")))
      local path = dir .. "/worker.heapsnapshot"
      local info = assert(w.memory:takeHeapSnapshot { path = path })
      assert.equal(info.bytes, file_size(path))
      assert.equal("600", mode_of(path))
      local snap = assert(heap.load(path))
      assert.is_nil(class_row(snap:summary {}, "FrameRecord"))
      snap:close()

      local code, out, err = cli("usage", "--all", "--json", "--endpoint", rt.endpoint, "--target", rt.target.id)
      assert.equal(0, code, err)
      local doc = json.decode(out)
      local types = {}
      for i, iso in ipairs(doc.isolates) do types[i] = iso.type end
      table.sort(types)
      assert.same({ "iframe", "page", "worker" }, types)
    end)

    it("leaks --all names WorkerRecord under the worker only", function()
      local code, out, err = cli("leaks", "--all", "--action", "send(200)", "--json", "--endpoint", rt.endpoint,
        "--target", rt.target.id, "--dir", dir .. "/hunt")
      assert.equal(1, code, err)
      local doc = json.decode(out)
      assert.equal(3, #doc.isolates)
      for _, iso in ipairs(doc.isolates) do
        if iso.type == "worker" then
          assert.equal("WorkerRecord", iso.leaks[1].class, out)
          assert.equal(200, iso.leaks[1].count)
        else
          assert.same({}, counted(iso.leaks), iso.type)
        end
      end
    end)

    it("an iframe removed while its snapshot streams fails that child cleanly; the page stays usable", function()
      local f = assert(s:attach(find(assert(s:children()), of_type("iframe")).id))
      assert(f.memory:evaluate("window.big = Array.from({ length: 300000 }, (_, i) => ({ i, s: 'x' + i })), 1"))
      local path = dir .. "/frame.heapsnapshot"
      local asked, arrived = false, 0
      local info, err, code = f.memory:takeHeapSnapshot { path = path, onBytes = function(b)
        arrived = b
        if asked then return end
        asked = true
        s:sendCommand { method = "Runtime.evaluate", callback = function() end,
          params = { expression = "document.querySelector('iframe').remove()" } }
      end }
      assert.is_nil(info)
      assert.equal("ECLOSED", code, err)
      assert.truthy(err:find("went away", 1, true), err)
      assert.is_true(arrived > 0, "chunks had arrived before the iframe went")
      assert.is_false(exists(path))
      assert.is_false(exists(path .. ".partial"))
      assert.is_false(f:isOpen())
      assert.equal(2, assert(s.memory:evaluate("1+1")))
      local kids = assert(s:children())
      assert.equal(1, #kids)
      assert.equal("worker", kids[1].type)
      assert.is_true(assert(assert(s:attach(kids[1].id)).memory:getHeapUsage()).usedSize > 0)
    end)
  end)
end

-- Service and shared workers are browser-level targets: a page's
-- Target.setAutoAttach attaches the service worker whose scope covers it,
-- never a shared worker (children() attaches those of the page's origin).
-- Served over loopback HTTP: http://127.0.0.1 is a secure context.
if pending_file("Chromium page with a service worker and a shared worker", "chromium") then
  describe("Chromium page with a service worker and a shared worker", function()
    local app, rt, s, dir

    setup(function()
      app = runtimes.start("node", { script = APP, app = "isolates" })
      rt = runtimes.start("chromium", { url = app.http .. "/workers.html", title = "memdbg workers" })
      s = assert(memdbg.connect { endpoint = rt.endpoint, target = rt.target.id })
      dir = assert(files.tempdir("memdbg-isolates"))
    end)
    teardown(function()
      stop(rt, s, dir)
      stop(app)
    end)

    it("children() lists both; each answers as its own isolate and its snapshot holds its own records", function()
      local kids = assert(s:children())
      assert.equal(2, #kids)
      local sw, sh = find(kids, of_type("service_worker")), find(kids, of_type("shared_worker"))
      assert.equal(app.http .. "/sw.js", sw.url)
      assert.equal("leaky-shared", sh.title)
      assert.equal(app.http .. "/shared.js", sh.url)
      -- a second call attaches nothing twice
      assert.equal(2, #assert(s:children()))
      local w, h = assert(s:attach(sw.id)), assert(s:attach(sh.id))
      assert.equal("undefined", assert(w.memory:evaluate("typeof document")))
      assert.equal(500, assert(w.memory:evaluate("held.length")))
      assert.equal(300, assert(h.memory:evaluate("kept.length")))
      assert.equal(500, assert(s.memory:evaluate("swCount()")))
      for _, c in ipairs { { w, "SwRecord", 500, "SharedRecord" }, { h, "SharedRecord", 300, "SwRecord" } } do
        local path = dir .. "/" .. c[2] .. ".heapsnapshot"
        local info = assert(c[1].memory:takeHeapSnapshot { path = path })
        assert.equal(info.bytes, file_size(path))
        assert.equal("600", mode_of(path))
        local snap = assert(heap.load(path))
        local rows = snap:summary {}
        snap:close()
        assert.equal(c[3], assert(class_row(rows, c[2]), c[2]).count)
        assert.is_nil(class_row(rows, c[4]))
        assert.is_true(assert(c[1].memory:getHeapUsage()).usedSize > 0)
      end
    end)

    it("CLI: targets --children, usage --all, --target by title and by URL", function()
      local code, out, err = cli("targets", "--children", "--json", "--endpoint", rt.endpoint)
      assert.equal(0, code, err)
      local page = find(json.decode(out).targets, function(t) return t.id == rt.target.id end)
      local types = {}
      for i, k in ipairs(page.children) do types[i] = k.type end
      table.sort(types)
      assert.same({ "service_worker", "shared_worker" }, types)

      code, out, err = cli("usage", "--all", "--json", "--endpoint", rt.endpoint, "--target", rt.target.id)
      assert.equal(0, code, err)
      local doc = json.decode(out)
      types = {}
      local used = 0
      for i, iso in ipairs(doc.isolates) do
        types[i] = iso.type
        assert.is_true(iso.usedSize > 0, iso.type)
        used = used + iso.usedSize
      end
      table.sort(types)
      assert.same({ "page", "service_worker", "shared_worker" }, types)
      assert.equal(used, doc.total.usedSize)

      for _, c in ipairs { { "leaky-shared", "SharedRecord" }, { "/sw.js", "SwRecord" } } do
        local path = dir .. "/cli-" .. c[2] .. ".heapsnapshot"
        code, out, err = cli("snapshot", "--target", c[1], "--endpoint", rt.endpoint, "--out", path)
        assert.equal(0, code, err .. out)
        local snap = assert(heap.load(path))
        assert.is_table(class_row(snap:summary {}, c[2]), c[1])
        snap:close()
      end
    end)

    it("leaks --all names SharedRecord under the shared worker only", function()
      local code, out, err = cli("leaks", "--all", "--action", "sendShared(200)", "--json", "--endpoint", rt.endpoint,
        "--target", rt.target.id, "--dir", dir .. "/hunt")
      assert.equal(1, code, err)
      local doc = json.decode(out)
      assert.equal(3, #doc.isolates)
      for _, iso in ipairs(doc.isolates) do
        if iso.type == "shared_worker" then
          local g = iso.leaks[1]
          assert.equal("SharedRecord", g.class, out)
          assert.equal(200, g.count)
          assert.same({ 200, 200 }, g.growth)
          assert.equal(app.http .. "/shared.js", g.location.url)
        else
          assert.same({}, counted(iso.leaks), iso.type)
        end
      end
    end)

    -- Runtime.evaluate awaiting the page's promise, with a deadline of its own
    local function await(expr)
      local r, err, code = s:sendCommand { method = "Runtime.evaluate", timeout = 10,
        params = { expression = expr, awaitPromise = true, returnByValue = true } }
      assert.is_table(r, tostring(err) .. " " .. tostring(code))
      return r.result.value
    end

    it("workers that end: the child fails with ECLOSED at once; started again, each is a new child that runs",
      function()
        -- a shared worker started after the first children() is listed by the next
        assert.equal(300, await("startShared('short-lived')"))
        local k = find(assert(s:children()), function(x) return x.title == "short-lived" end)
        assert.equal("shared_worker", k.type)
        local h = assert(s:attach(k.id))
        assert.equal(300, assert(h.memory:evaluate("kept.length")))
        -- it closes itself: Chromium says only Inspector.targetCrashed on its session
        assert(s.memory:evaluate("closeShared('short-lived')"))
        assert.is_true(poll_until(s, function() return not h:isOpen() end))
        local none, err, code = h.memory:getHeapUsage()
        assert.is_nil(none)
        assert.equal("ECLOSED", code, err)
        assert.truthy(err:find("went away", 1, true), err)
        assert.equal(2, #assert(s:children()))
        -- the same name again: it runs (no session of ours left for it to wait for)
        assert.equal(300, await("startShared('short-lived')"))
        local again = find(assert(s:children()), function(x) return x.title == "short-lived" end)
        assert.is_true(again.id ~= k.id)
        assert.equal(300, assert(assert(s:attach(again.id)).memory:evaluate("kept.length")))

        -- the service worker, stopped by the browser, then started by a message
        local sw = find(assert(s:children()), of_type("service_worker"))
        local w = assert(s:attach(sw.id))
        assert(s:sendCommand { method = "ServiceWorker.enable" })
        assert(s:sendCommand { method = "ServiceWorker.stopAllWorkers" })
        assert.is_true(poll_until(s, function() return not w:isOpen() end))
        none, err, code = w.memory:evaluate("1")
        assert.is_nil(none)
        assert.equal("ECLOSED", code, err)
        assert.equal(500, await("swCount()"))
        assert.is_true(poll_until(s, function() return find(assert(s:children()), of_type("service_worker")) end))
        local sw2 = find(assert(s:children()), of_type("service_worker"))
        assert.is_true(sw2.id ~= sw.id)
        assert.equal(500, assert(assert(s:attach(sw2.id)).memory:evaluate("held.length")))
        assert.equal(2, assert(s.memory:evaluate("1+1")))
      end)
  end)
end

if pending_file("Deno Workers", "deno") then
  describe("Deno Workers", function()
    local rt, s, dir

    setup(function()
      rt = runtimes.start("deno", { script = runtimes.apps .. "/isolates/deno.js", app = "isolates",
        runtimeArgs = { "--allow-read" } })
      s = assert(memdbg.connect { endpoint = rt.endpoint })
      dir = assert(files.tempdir("memdbg-isolates"))
    end)
    teardown(function() stop(rt, s, dir) end)

    it("children() through NodeWorker; the worker's snapshot through the sink; leaks --all", function()
      local kids = assert(s:children())
      assert.equal(1, #kids)
      assert.equal("worker", kids[1].type) -- Deno says node_worker
      assert.equal("file://" .. runtimes.apps .. "/isolates/worker.js", kids[1].url)
      local w = assert(s:attach(kids[1].id))
      assert(s.memory:evaluate("send(300)"))
      local path = dir .. "/worker.heapsnapshot"
      local info = assert(w.memory:takeHeapSnapshot { path = path })
      assert.equal(info.bytes, file_size(path))
      local snap = assert(heap.load(path))
      assert.is_true(class_row(snap:summary {}, "WorkerRecord").count >= 300)
      snap:close()
      -- Deno's worker answers one inspector connection (the first to attach) until
      -- it closes: the CLI's connection gets the worker once this one is gone
      s:close()
      s = nil
      local code, out, err = cli("leaks", "--all", "--action", "send(200)", "--json", "--endpoint", rt.endpoint,
        "--dir", dir .. "/hunt")
      assert.equal(1, code, err)
      local doc = json.decode(out)
      assert.same({}, counted(doc.isolates[1].leaks))
      assert.equal("WorkerRecord", doc.isolates[2].leaks[1].class, out)
      assert.equal(200, doc.isolates[2].leaks[1].count)
    end)
  end)
end

-- Runtimes whose inspector has no children: said plainly, and --all covers
-- the one isolate there is.
for _, kind in ipairs { "bun", "workerd" } do
  if pending_file(kind .. ": no child isolates", kind) then
    describe(kind .. ": no child isolates", function()
      local rt, s

      setup(function() rt = runtimes.start(kind, { app = "idle" }) end)
      teardown(function() stop(rt, s) end)

      it("children() is EUNSUPPORTED with the reason; usage --all lists the one isolate", function()
        -- the CLI first: workerd closes both sockets when a second client comes
        local code, out, err = cli("usage", "--all", "--json", "--endpoint", rt.endpoint or rt.ws)
        assert.equal(0, code, err .. out)
        assert.equal(1, #json.decode(out).isolates, out)
        assert.truthy(err:find("only the main isolate", 1, true), err)
        s = assert(memdbg.connect { endpoint = rt.endpoint or rt.ws })
        local none
        none, err, code = s:children()
        assert.is_nil(none)
        assert.equal("EUNSUPPORTED", code, err)
        assert.truthy(err:find(kind == "bun" and "no Worker, Target or NodeWorker domain" or "its own target",
          1, true), err)
      end)
    end)
  end
end
