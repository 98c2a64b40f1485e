-- The leak hunt driven from outside the process (issue 10) and the CI gate,
-- as a new user runs them: `node --inspect server.js`, then `memdbg leaks`
-- with --action-http or --action-cmd, --ignore, --max-growth; and an action
-- that ends the runtime or never settles (issue 12, item 6).
local node = require("support.node")
local proc = require("support.proc")
local cli = require("support.cli")
local mfiles = require("memdbg.util.files")
local json = require("memdbg.util.json")
local core = require("memdbg._core")

local SERVER = "spec/apps/actions/server.js"

local function start(mode)
  local h = node.start { script = SERVER, args = { mode }, ready = "orders ready" }
  h.http = proc.wait_for(h, "orders ready mode=%w+ http=(http://127%.0%.0%.1:%d+)")
  return h
end

local function tmpfile(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local function decode(out)
  local doc = json.decode(out)
  assert.is_table(doc, "not JSON: " .. tostring(out))
  return doc
end

-- a hunt that found leaks keeps its snapshots: remove them and their directory
local function remove_snapshots(doc)
  for _, p in ipairs(doc.snapshots or {}) do os.remove(p) end
  if doc.snapshots and doc.snapshots[1] then os.remove((doc.snapshots[1]:match("^(.*)/[^/]+$"))) end
end

-- the first group that is not runtime-internal, and the index of the first that is
local function first_real(doc)
  for i, g in ipairs(doc.leaks) do
    if not g.runtimeInternal then return g, i end
  end
end

describe("memdbg leaks with actions from outside (Node http server)", function()
  local app, first
  setup(function() app = start("leaky") end)
  teardown(function()
    node.stop(app)
    if first then os.remove(first) end
  end)

  it("--action-http sends the requests itself and names the leaked class first", function()
    local code, out, err = cli.memdbg("leaks", "--endpoint", app.endpoint, "--action-http", app.http .. "/orders",
      "--requests", "150", "--concurrency", "4", "--json")
    assert.equal(1, code, err)
    local doc = decode(out)
    local g, i = first_real(doc)
    assert.equal("Order", g.class, out)
    assert.equal(1, i, "runtime-internal noise above the leak")
    assert.is_true(g.count >= 150, "count " .. tostring(g.count))
    assert.is_string(g.signature)
    assert.equal(2, #doc.actions)
    for _, a in ipairs(doc.actions) do
      assert.equal("http", a.kind)
      assert.same({ ["200"] = 150 }, a.statuses)
      assert.equal(0, a.errors)
      assert.is_true(a.connections <= 4 * 2, "keep-alive: " .. a.connections .. " connections for 150 requests")
    end
    remove_snapshots(doc)
  end)

  it("--action-cmd runs a curl loop; --ignore with that JSON exits 0 and marks the group ignored", function()
    local loop = "for i in $(seq 60); do curl -sf -o /dev/null -X POST -d item=$i " .. app.http .. "/orders || exit 1; done"
    local code, out, err = cli.memdbg("leaks", "--endpoint", app.endpoint, "--action-cmd", loop, "--json")
    assert.equal(1, code, err)
    local doc = decode(out)
    local g, i = first_real(doc)
    assert.equal("Order", g.class)
    assert.equal(1, i)
    assert.equal("command", doc.actions[1].kind)
    assert.equal(0, doc.actions[1].exitCode)
    first = tmpfile(out)
    remove_snapshots(doc)

    code, out, err = cli.memdbg("leaks", "--endpoint", app.endpoint, "--action-cmd", loop, "--ignore", first, "--json")
    assert.equal(0, code, err .. out)
    doc = decode(out)
    g = first_real(doc)
    assert.equal("Order", g.class)
    assert.is_true(g.ignored)
    assert.equal(0, doc.newLeaks)
  end)

  it("--ignore takes a list of signatures with # comments, in a new process of the app as in CI", function()
    assert.is_string(first, "needs the previous test's JSON")
    -- the next CI run is another process: the signatures must hold across processes
    local fresh = start("leaky")
    local files = {}
    -- busted keeps one finally per test: this one removes all it made
    finally(function()
      node.stop(fresh)
      for _, f in ipairs(files) do os.remove(f) end
    end)
    local doc = decode(cli.read(first))
    local lines = { "# known leaks, tracked in the bug tracker", "" }
    for _, g in ipairs(doc.leaks) do lines[#lines + 1] = g.signature .. "   # " .. g.class end
    local list = tmpfile(table.concat(lines, "\n") .. "\n")
    files[#files + 1] = list
    local code, out, err = cli.memdbg("leaks", "--endpoint", fresh.endpoint, "--action-http", fresh.http .. "/orders",
      "--ignore", list)
    assert.equal(0, code, err .. out)
    assert.matches("New leaks: 0", out)
    assert.matches("%[known: in the ignore file%]", out)
    -- without the Order group's line the same hunt fails
    local rest = {}
    for _, l in ipairs(lines) do
      if not l:find("# Order$") then rest[#rest + 1] = l end
    end
    local partial = tmpfile(table.concat(rest, "\n") .. "\n")
    files[#files + 1] = partial
    code, out, err = cli.memdbg("leaks", "--endpoint", fresh.endpoint, "--action-http", fresh.http .. "/orders",
      "--ignore", partial, "--json")
    assert.equal(1, code, err)
    doc = decode(out)
    assert.is_true(doc.newLeaks >= 1)
    assert.equal("Order", first_real(doc).class)
    assert.is_nil(first_real(doc).ignored)
    remove_snapshots(doc)
  end)

  it("an in-process fetch loop: the leak first, fetch's own bookkeeping marked runtime-internal below it", function()
    local action = string.format("Promise.all(Array.from({length: 100}, () => fetch(%q).then(r => r.text())))",
      app.http .. "/orders")
    local code, out, err = cli.memdbg("leaks", "--endpoint", app.endpoint, "--action", action, "--json")
    assert.equal(1, code, err)
    local doc = decode(out)
    remove_snapshots(doc)
    assert.equal("Order", doc.leaks[1].class, out)
    local seen_internal = false
    for _, g in ipairs(doc.leaks) do
      local path = table.concat(g.retainerPath, " ")
      if g.class == "PerformanceResourceTiming" or path:find("resourceTimingBuffer", 1, true)
        or path:find("FixedCircularBuffer", 1, true) or path:find("socketWeakRef", 1, true) then
        assert.is_string(g.runtimeInternal, g.class .. ": " .. path)
      end
      if g.runtimeInternal then seen_internal = true end
      assert.is_false(seen_internal and not g.runtimeInternal, "a program group below runtime-internal ones")
    end
  end)

  it("--max-growth lets a group through when it grew by fewer objects per action", function()
    local code, out, err = cli.memdbg("leaks", "--endpoint", app.endpoint, "--action-http", app.http .. "/orders",
      "--requests", "20", "--max-growth", "1000", "--json")
    assert.equal(0, code, err .. out)
    local doc = decode(out)
    assert.equal("Order", first_real(doc).class)
    assert.is_true(first_real(doc).belowMaxGrowth)
    code, out = cli.memdbg("leaks", "--endpoint", app.endpoint, "--action-http", app.http .. "/orders",
      "--requests", "20", "--max-growth", "5", "--json")
    assert.equal(1, code)
    remove_snapshots(decode(out))
  end)

  it("a failing --action-cmd fails the hunt with exit 2 and the end of its stderr, leaving no snapshots", function()
    local tmp = mfiles.tempdir("memdbg-spec")
    finally(function() os.execute("rm -rf " .. mfiles.quote(tmp)) end)
    local build = os.getenv("MEMDBG_BUILD") or "build/lua5.4"
    if build:find("luajit", 1, true) then build = "build/lua5.4" end
    local p = io.popen("MEMDBG_BUILD=" .. build .. " TMPDIR=" .. mfiles.quote(tmp)
      .. " lua5.4 scripts/memdbg leaks --endpoint "
      .. app.endpoint .. " --action-cmd 'echo working; echo \"boom: the suite failed\" >&2; exit 3' 2>&1;"
      .. " echo EXIT:$?")
    local text = p:read("a")
    p:close()
    assert.matches("EXIT:2", text)
    assert.matches("the action command exited with status 3", text)
    assert.matches("boom: the suite failed", text)
    local ls = io.popen("ls -A " .. mfiles.quote(tmp))
    local left = ls:read("a")
    ls:close()
    assert.equal("", left, "left behind: " .. left)
  end)

  it("--action-timeout ends a command that hangs, with its whole process group", function()
    local pidfile = os.tmpname()
    finally(function() os.remove(pidfile) end)
    local t0 = core.now()
    local code, _, err = cli.memdbg("leaks", "--endpoint", app.endpoint, "--action-timeout", "1",
      "--action-cmd", "sleep 60 & echo $! > " .. pidfile .. "; wait")
    assert.is_true(core.now() - t0 < 15, "took " .. (core.now() - t0) .. " s")
    assert.equal(3, code)
    assert.matches("did not finish within 1 s", err)
    local pid = tonumber(cli.read(pidfile):match("%d+"))
    assert.is_number(pid)
    assert.is_false(proc.alive { pid = pid }, "the command's child outlived memdbg")
  end)

  it("a promise that never settles is bounded by --action-timeout", function()
    local t0 = core.now()
    local code, _, err = cli.memdbg("leaks", "--endpoint", app.endpoint, "--action", "new Promise(() => {})",
      "--action-timeout", "2")
    assert.equal(3, code)
    assert.matches("did not finish within 2 s", err)
    assert.is_true(core.now() - t0 < 12, "took " .. (core.now() - t0) .. " s")
  end)

  it("refuses bad action arguments with exit 2 before connecting", function()
    local cases = {
      { {}, "an action is required" },
      { { "--action", "1", "--action-cmd", "true" }, "give one action" },
      { { "--action-cmd", "true", "--requests", "5" }, "--requests goes with --action-http" },
      { { "--action-http", "https://127.0.0.1/" }, "only http://" },
      { { "--action-http", "http://127.0.0.1:99999/" }, "bad port" },
      { { "--action-http", "http://192.0.2.1/" }, "not loopback" },
      { { "--action-http", "http://127.0.0.1/", "--concurrency", "0" }, "at least 1" },
      { { "--action-http", "http://127.0.0.1/", "--requests", "1.5" }, "whole number" },
      { { "--action", "1", "--action-timeout", "0" }, "positive" },
      { { "--action", "1", "--ignore", "/nonexistent/ignore.txt" }, "the ignore file: cannot read" },
      { { "--action", "1", "--no-gc" }, "goes with --sampling" },
    }
    for _, c in ipairs(cases) do
      local argv = { "leaks", "--endpoint", "http://127.0.0.1:1" }
      for _, a in ipairs(c[1]) do argv[#argv + 1] = a end
      local code, _, err = cli.memdbg(table.unpack(argv))
      assert.equal(2, code, table.concat(c[1], " ") .. ": " .. err)
      assert.truthy(err:find(c[2], 1, true), err)
    end
    local bad = tmpfile("not a signature list\n")
    finally(function() os.remove(bad) end)
    local code, _, err = cli.memdbg("leaks", "--action", "1", "--ignore", bad)
    assert.equal(2, code)
    assert.matches("one signature a line", err)
    -- a FIFO (or a directory, a device) is refused, never read: reading a FIFO waits for a writer forever
    local fifo = os.tmpname()
    os.remove(fifo)
    local made = os.execute("mkfifo " .. fifo)
    assert(made == true or made == 0)
    finally(function() os.remove(fifo) end)
    for _, path in ipairs { fifo, "/dev/zero", "/tmp" } do
      code, _, err = cli.memdbg("leaks", "--action", "1", "--ignore", path)
      assert.equal(2, code, path .. ": " .. err)
      assert.matches("not a regular file", err)
    end
  end)
end)

describe("an action that ends the runtime", function()
  it("fails at once with ECLOSED instead of waiting for a reply", function()
    local h = node.start { source = "setInterval(() => {}, 1000)" }
    finally(function() node.stop(h) end)
    local t0 = core.now()
    local code, _, err = cli.memdbg("leaks", "--endpoint", h.endpoint, "--action", "process.exit(0)")
    local took = core.now() - t0
    assert.equal(3, code)
    assert.matches("the action ended the runtime", err)
    assert.is_true(took < 10, "took " .. took .. " s")
    for _ = 1, 40 do
      if not proc.alive(h) then break end
      proc.sleep(0.05)
    end
    assert.is_false(proc.alive(h), "node still waits for the debugger to disconnect")
  end)
end)
