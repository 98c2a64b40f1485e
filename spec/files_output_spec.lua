-- Files memdbg writes (issue 12, items 1-3, 4 and 10): `memdbg snapshot`
-- against a real Node app, with hostile things planted at and next to the
-- destination. memdbg never writes through a link, never replaces a device,
-- a FIFO or a directory, never removes what it did not create, and leaves
-- nothing behind when it is stopped (SIGTERM, SIGHUP) mid-snapshot.
local node = require("support.node")
local proc = require("support.proc")
local run = require("support.run")

local APP = "spec/apps/node-memory/app.js"

local function write(path, text, mode)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  if mode then os.execute("chmod " .. mode .. " " .. run.quote(path)) end
end

local function is_snapshot(path)
  local text = run.slurp(path)
  return text ~= nil and text:match('^{"snapshot":{') ~= nil
end

local function sh(cmd)
  assert(os.execute(cmd), cmd)
end

describe("files memdbg writes (a small Node app)", function()
  local app, dir

  setup(function()
    app = node.start { script = APP, args = { "idle" }, ready = "memdbg%-memory%-app ready" }
  end)
  teardown(function() node.stop(app) end)
  before_each(function() dir = run.tmpdir() end)
  after_each(function() run.rm(dir) end)

  local function snapshot(...)
    local args = { "snapshot", "--endpoint", app.endpoint, ... }
    args.timeout = 60
    return run.memdbg(args)
  end

  it("a symbolic link planted at OUT.partial is not followed: its target is untouched", function()
    write(dir .. "/victim", "victim's data")
    sh("ln -s victim " .. dir .. "/out.heapsnapshot.partial")
    local code, _, err = snapshot("--out", dir .. "/out.heapsnapshot")
    assert.equal(0, code, err)
    assert.equal("victim's data", run.slurp(dir .. "/victim"))
    assert.equal("symbolic link", run.stat(dir .. "/out.heapsnapshot.partial", "%F"))
    assert.is_true(is_snapshot(dir .. "/out.heapsnapshot"))
    assert.equal("600", run.stat(dir .. "/out.heapsnapshot", "%a"))
    assert.same({ "out.heapsnapshot", "out.heapsnapshot.partial", "victim" }, run.ls(dir))
  end)

  it("--dir: links planted at the names it would pick are neither followed nor replaced", function()
    write(dir .. "/victim", "victim's data")
    sh("mkdir -m 0700 " .. dir .. "/snaps")
    -- every name `--dir` could pick in the next seconds, and their .partial
    local t = os.time()
    for s = 0, 4 do
      local name = dir .. "/snaps/heap-" .. os.date("!%Y%m%d-%H%M%SZ", t + s) .. ".heapsnapshot"
      sh("ln -s ../victim " .. name)
      sh("ln -s ../victim " .. name .. ".partial")
    end
    local code, out, err = snapshot("--dir", dir .. "/snaps")
    assert.equal(0, code, err)
    assert.equal("victim's data", run.slurp(dir .. "/victim"))
    local path = out:match("Wrote (%S+)")
    assert.equal("file", run.stat(path, "%F"):match("regular (file)"))
    assert.is_true(is_snapshot(path))
    for _, name in ipairs(run.ls(dir .. "/snaps")) do
      if dir .. "/snaps/" .. name ~= path then
        assert.equal("symbolic link", run.stat(dir .. "/snaps/" .. name, "%F"))
      end
    end
  end)

  it("a character device, a FIFO, a socket, a directory, a link or an empty path at --out: exit 2 at once", function()
    sh("mknod " .. dir .. "/null c 1 3")
    sh("mkfifo " .. dir .. "/fifo")
    sh("python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' " .. dir .. "/sock")
    sh("mkdir " .. dir .. "/sub")
    sh("ln -s /dev/null " .. dir .. "/link")
    -- nothing listens at this endpoint: exit 2, not 3, shows the check came first
    local nowhere = "http://127.0.0.1:9"
    local cases = {
      { dir .. "/null", "character device" }, { dir .. "/fifo", "FIFO" }, { dir .. "/sock", "socket" },
      { dir .. "/sub", "directory" }, { dir .. "/link", "symbolic link" }, { "", "empty" },
      { dir .. "/nodir/x.heapsnapshot", "not an existing directory" },
    }
    for _, c in ipairs(cases) do
      local code, _, err = run.memdbg { "snapshot", "--endpoint", nowhere, "--out", c[1], timeout = 20 }
      assert.equal(2, code, c[1] .. ": " .. err)
      assert.truthy(err:find(c[2], 1, true), err)
      if c[1] ~= "" then assert.truthy(err:find(c[1], 1, true), err) end
    end
    -- the other commands that write files check theirs the same way
    sh("ln -s /dev/null " .. dir .. "/p.heapprofile")
    for _, c in ipairs {
      { { "track", "--out", dir .. "/sub" }, "directory" },
      { { "track", "--dir", dir .. "/fifo" }, "FIFO" },
      { { "sample", "--prefix", dir .. "/p" }, "symbolic link" },
      { { "monitor", "--csv", dir .. "/null" }, "character device" },
      { { "monitor", "--svg", dir .. "/sock" }, "socket" },
    } do
      local argv = c[1]
      table.insert(argv, 2, "--endpoint")
      table.insert(argv, 3, nowhere)
      argv.timeout = 20
      local code, _, err = run.memdbg(argv)
      assert.equal(2, code, table.concat(argv, " ") .. ": " .. err)
      assert.truthy(err:find(c[2], 1, true), err)
    end
    os.remove(dir .. "/p.heapprofile")
    assert.equal("character special file", run.stat(dir .. "/null", "%F"))
    assert.equal("fifo", run.stat(dir .. "/fifo", "%F"))
    assert.equal("socket", run.stat(dir .. "/sock", "%F"))
    assert.same({ "fifo", "link", "null", "sock", "sub" }, run.ls(dir))
    assert.same({}, run.ls(dir .. "/sub"))
  end)

  -- memdbg's mark, read with Python (not memdbg's own code): the xattr's value or nil
  local function mark(path)
    local h = io.popen("python3 -c 'import os,sys\ntry: print(os.getxattr(sys.argv[1], \"user.memdbg\").decode())\n"
      .. "except OSError: print(\"-\")' " .. run.quote(path))
    local v = h:read("*l")
    h:close()
    if v ~= "-" then return v end
  end

  it("an existing file memdbg did not create is refused by every writer and left byte-identical (exit 2 first)",
    function()
    local old = "someone's data\0\1\2\n"
    local out = dir .. "/out.heapsnapshot"
    write(out, old, "0644")
    local code, _, err = snapshot("--out", out)
    assert.equal(2, code, err)
    assert.truthy(err:find(out .. " exists and memdbg did not create it; choose another name, remove it, or pass "
      .. "--force", 1, true), err)
    assert.equal(old, run.slurp(out))
    assert.equal("644", run.stat(out, "%a"))
    assert.same({ "out.heapsnapshot" }, run.ls(dir))
    -- nothing listens at this endpoint: exit 2, not 3, shows no runtime was asked
    local nowhere = "http://127.0.0.1:9"
    for _, name in ipairs { "t.heapsnapshot", "p.heapprofile", "q.folded", "m.csv", "m.svg" } do
      write(dir .. "/" .. name, old)
    end
    for _, c in ipairs {
      { { "snapshot", "--out", out }, out }, { { "track", "--out", dir .. "/t.heapsnapshot" }, "t.heapsnapshot" },
      { { "sample", "--prefix", dir .. "/p" }, "p.heapprofile" }, { { "sample", "--prefix", dir .. "/q" }, "q.folded" },
      { { "monitor", "--csv", dir .. "/m.csv" }, "m.csv" }, { { "monitor", "--svg", dir .. "/m.svg" }, "m.svg" },
    } do
      local argv = c[1]
      table.insert(argv, 2, "--endpoint")
      table.insert(argv, 3, nowhere)
      argv.timeout = 20
      code, _, err = run.memdbg(argv)
      assert.equal(2, code, table.concat(argv, " ") .. ": " .. err)
      assert.truthy(err:find(c[2] .. " exists and memdbg did not create it", 1, true), err)
    end
    for _, name in ipairs { "out.heapsnapshot", "t.heapsnapshot", "p.heapprofile", "q.folded", "m.csv", "m.svg" } do
      assert.equal(old, run.slurp(dir .. "/" .. name), name)
      assert.is_nil(mark(dir .. "/" .. name), name)
    end
  end)

  it("a file memdbg wrote carries its mark and is replaced on re-run; other hard links keep the old data", function()
    local out = dir .. "/out.heapsnapshot"
    local code, _, err = snapshot("--out", out)
    assert.equal(0, code, err)
    assert.equal("memdbg", mark(out))
    local first = run.slurp(out)
    sh("ln " .. out .. " " .. dir .. "/old-link") -- a second name for the first snapshot
    code, _, err = snapshot("--out", out)
    assert.equal(0, code, err)
    assert.is_true(is_snapshot(out))
    assert.equal("600", run.stat(out, "%a"))
    assert.equal("memdbg", mark(out))
    -- replaced, not rewritten in place: the old file is intact under its other name
    assert.are_not.equal(run.stat(out, "%i"), run.stat(dir .. "/old-link", "%i"))
    assert.equal(first, run.slurp(dir .. "/old-link"))
    assert.same({ "old-link", "out.heapsnapshot" }, run.ls(dir))
    -- the named fallback (no O_TMPFILE) is marked too, and replaces memdbg's own
    code, _, err = run.memdbg { "snapshot", "--endpoint", app.endpoint, "--out", out, timeout = 60,
      env = { MEMDBG_NO_O_TMPFILE = "1" } }
    assert.equal(0, code, err)
    assert.equal("memdbg", mark(out))
    assert.same({ "old-link", "out.heapsnapshot" }, run.ls(dir))
  end)

  it("--no-clobber refuses memdbg's own file; --force replaces a foreign one but never a link or a device", function()
    local out = dir .. "/out.heapsnapshot"
    local code, _, err = snapshot("--out", out)
    assert.equal(0, code, err)
    local mine = run.slurp(out)
    code, _, err = snapshot("--out", out, "--no-clobber")
    assert.equal(2, code, err)
    assert.truthy(err:find(out, 1, true) and err:find("--no-clobber", 1, true), err)
    assert.equal(mine, run.slurp(out))
    local foreign = dir .. "/foreign.heapsnapshot"
    write(foreign, "old data", "0644")
    sh("ln " .. foreign .. " " .. dir .. "/foreign-link")
    code, _, err = snapshot("--out", foreign, "--force")
    assert.equal(0, code, err)
    assert.is_true(is_snapshot(foreign))
    assert.equal("600", run.stat(foreign, "%a"))
    assert.equal("memdbg", mark(foreign))
    assert.equal("old data", run.slurp(dir .. "/foreign-link"))
    code, _, err = snapshot("--out", foreign, "--force", "--no-clobber")
    assert.equal(2, code, err)
    assert.truthy(err:find("not both", 1, true), err)
    sh("mknod " .. dir .. "/null c 1 3")
    sh("ln -s foreign-link " .. dir .. "/link")
    for _, c in ipairs { { dir .. "/null", "character device" }, { dir .. "/link", "symbolic link" } } do
      code, _, err = run.memdbg { "snapshot", "--endpoint", "http://127.0.0.1:9", "--out", c[1], "--force", timeout = 20 }
      assert.equal(2, code, err)
      assert.truthy(err:find(c[2], 1, true), err)
    end
    assert.equal("character special file", run.stat(dir .. "/null", "%F"))
    assert.equal("old data", run.slurp(dir .. "/foreign-link"))
  end)

  it("a directory or a FIFO at OUT.partial is left alone, and does not stop or hang the snapshot", function()
    sh("mkdir " .. dir .. "/a.heapsnapshot.partial")
    sh("mkfifo " .. dir .. "/b.heapsnapshot.partial")
    local code, _, err = snapshot("--out", dir .. "/a.heapsnapshot", "--timeout", "5")
    assert.equal(0, code, err)
    code, _, err = snapshot("--out", dir .. "/b.heapsnapshot", "--timeout", "5")
    assert.equal(0, code, err)
    assert.equal("directory", run.stat(dir .. "/a.heapsnapshot.partial", "%F"))
    assert.equal("fifo", run.stat(dir .. "/b.heapsnapshot.partial", "%F"))
    assert.is_true(is_snapshot(dir .. "/a.heapsnapshot") and is_snapshot(dir .. "/b.heapsnapshot"))
  end)
end)

describe("files memdbg writes when a snapshot fails or is stopped (a 70 MB Node heap)", function()
  local dir

  before_each(function() dir = run.tmpdir() end)
  after_each(function() run.rm(dir) end)

  local function big_app()
    return node.start { script = APP, args = { "idle", "400000" }, ready = "memdbg%-memory%-app ready" }
  end

  -- Starts `memdbg snapshot` in the background; returns once it is streaming.
  local function start_snapshot(app, out, extra, env)
    local args = { "snapshot", "--endpoint", app.endpoint, "--out", out, env = env }
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    local h = run.start(args)
    run.wait_writing(h, dir, 60) -- the snapshot is streaming
    return h
  end

  it("someone else's OUT.partial survives a snapshot that fails (the runtime dies mid-way)", function()
    local app = big_app()
    local out = dir .. "/x.heapsnapshot"
    write(out .. ".partial", "not memdbg's", "0400")
    local h = start_snapshot(app, out, { "--keep-partial" })
    proc.stop(app, "KILL")
    local code, _, err = run.wait(h, 60)
    assert.equal(3, code, err)
    assert.equal("not memdbg's", run.slurp(out .. ".partial"))
    assert.equal("400", run.stat(out .. ".partial", "%a"))
    assert.is_nil(run.stat(out, "%F"))
    -- what had arrived is kept under a name of its own, and said where
    local kept = err:match("kept at (%S+%-%w+)%)")
    assert.truthy(kept, err)
    assert.equal("600", run.stat(kept, "%a"))
  end)

  for _, case in ipairs {
    { sig = "TERM", exit = 143 }, { sig = "HUP", exit = 129 },
    { sig = "TERM", exit = 143, env = { MEMDBG_NO_O_TMPFILE = "1" }, what = " (named partial file)" },
  } do
    it("SIG" .. case.sig .. " mid-snapshot leaves nothing behind" .. (case.what or ""), function()
      local app = big_app()
      local h = start_snapshot(app, dir .. "/s.heapsnapshot", nil, case.env)
      run.signal(h, case.sig)
      local code, _, err = run.wait(h, 60)
      node.stop(app)
      assert.same({}, run.ls(dir))
      assert.equal(case.exit, code, err)
      assert.truthy(err:find("SIG" .. case.sig, 1, true), err)
    end)
  end

  it("SIGTERM during `memdbg leaks` removes its private temp dir with the finished snapshots", function()
    local app = big_app()
    local tmp = dir .. "/tmp"
    sh("mkdir -m 0700 " .. tmp)
    local h = run.start { "leaks", "--endpoint", app.endpoint, "--action", "handleRequests(10)",
      env = { TMPDIR = tmp } }
    -- wait for the baseline snapshot to be finished, then stop it
    local deadline = os.time() + 60
    local finished
    repeat
      os.execute("sleep 0.1")
      local p = io.popen("find " .. run.quote(tmp) .. " -name '1-baseline-*.heapsnapshot'")
      finished = p:read("*l")
      p:close()
    until finished or os.time() > deadline
    assert.truthy(finished, "no baseline snapshot appeared")
    run.signal(h, "TERM")
    local code, _, err = run.wait(h, 60)
    node.stop(app)
    assert.same({}, run.ls(tmp))
    assert.equal(143, code, err)
  end)
end)
