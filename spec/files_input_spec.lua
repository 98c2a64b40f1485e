-- Bad input gets a clear error (issue 12, items 4, 9, 11 and the file/format
-- parts of 12): FIFOs refused before they can block, a snapshot file that
-- shrinks while it loads is ETRUNCATED (not SIGBUS), duplicate field names
-- are EFORMAT, numbers out of range are exit 2, and an error that is a table
-- is still readable text.
local heap = require("memdbg.analysis.heap")
local fx = require("support.heapfixture")
local run = require("support.run")

-- A valid snapshot of n objects in a chain from the root (~50 bytes each).
local function chain(n)
  local nodes, edges = { { "synthetic", "", 1, 0 } }, {}
  for i = 1, n do
    nodes[#nodes + 1] = { "object", "Obj" .. (i % 7), 2 * i + 1, 32 }
    edges[#edges + 1] = { i, i + 1, "property", "next" }
  end
  return fx.v8_text(fx.v8 { nodes = nodes, edges = edges })
end

local function lua_bin()
  return require("support.run").interpreter()
end

describe("reading snapshot files", function()
  local dir
  before_each(function() dir = run.tmpdir() end)
  after_each(function() run.rm(dir) end)

  it("a FIFO given to summary, top, retainers, diff or find-leaks fails at once (exit 3), naming it", function()
    local fifo = dir .. "/snap.fifo"
    assert(os.execute("mkfifo " .. fifo))
    local good = fx.write(dir .. "/good.heapsnapshot", chain(10))
    for _, argv in ipairs {
      { "summary", fifo }, { "top", fifo }, { "retainers", fifo, "1" }, { "diff", good, fifo },
      { "find-leaks", fifo, good, good },
    } do
      argv.timeout = 20
      local code, _, err = run.memdbg(argv)
      assert.equal(3, code, argv[1] .. ": " .. err)
      assert.truthy(err:find(fifo, 1, true) and err:find("FIFO", 1, true), err)
    end
    local snap, err, code = heap.load(fifo)
    assert.is_nil(snap)
    assert.equal("EIO", code)
    assert.matches("not a regular file %(a FIFO%)", err)
  end)

  it("memdbg leaks --ignore with a FIFO or a device fails at once (exit 2), naming it, never opening it", function()
    local fifo = dir .. "/ignore.fifo"
    assert(os.execute("mkfifo " .. fifo))
    for _, c in ipairs { { fifo, "FIFO" }, { "/dev/null", "character device" }, { dir, "directory" } } do
      -- nothing listens at the endpoint: exit 2 (not 3) shows the check came first
      local code, _, err = run.memdbg { "leaks", "--endpoint", "http://127.0.0.1:9", "--duration", "1",
        "--ignore", c[1], timeout = 20 }
      assert.equal(2, code, c[1] .. ": " .. err)
      assert.truthy(err:find(c[1], 1, true) and err:find(c[2], 1, true), err)
    end
    local gate = require("memdbg.workflows.leak_gate")
    local set, err, code = gate.load_ignore(fifo)
    assert.is_nil(set)
    assert.equal("EPATH", code)
    assert.matches("not a regular file", err)
  end)

  it("a file that shrinks while it loads fails with ETRUNCATED, not SIGBUS", function()
    local path = fx.write(dir .. "/shrinks.heapsnapshot", chain(40000))
    -- a child process: on the old code SIGBUS killed the whole interpreter
    local script = fx.write(dir .. "/shrink.lua", [==[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      package.cpath = (os.getenv("MEMDBG_BUILD") or "build/lua5.4") .. "/?.so;" .. package.cpath
      local heap = require "memdbg.analysis.heap"
      local path, cut = arg[1], false
      local snap, err, code = heap.load(path, { onProgress = function()
        if not cut then cut = true os.execute("truncate -s 5000 " .. path) end
      end })
      io.write(tostring(snap), "\n", tostring(code), "\n", tostring(err), "\n")
      -- the engine still works after the fault
      io.write(tostring(heap.parse('{"snapshot":{"meta":{"node_fields":["type","name","id","self_size",'
        .. '"edge_count"],"node_types":[["synthetic"]],"edge_fields":["type","name_or_index","to_node"],'
        .. '"edge_types":[["property"]]},"node_count":1,"edge_count":0},"nodes":[0,0,1,0,0],"edges":[],'
        .. '"strings":[""]}').nodeCount), "\n")
    ]==])
    local p = io.popen(lua_bin() .. " " .. script .. " " .. path .. " 2>&1; echo \"exit=$?\"")
    local out = p:read("*a")
    p:close()
    assert.matches("exit=0", out)
    local snapv, code, err, after = out:match("^([^\n]*)\n([^\n]*)\n([^\n]*)\n([^\n]*)\n")
    assert.equal("nil", snapv, out)
    assert.equal("ETRUNCATED", code, out)
    assert.truthy(err:find(path, 1, true) and err:find("shrank", 1, true), err)
    assert.equal("1", after)
  end)

  it("duplicate names in node_fields (or edge_fields) are EFORMAT, not the later column silently winning", function()
    local t = fx.v8 { fields = { "type", "name", "id", "self_size", "edge_count", "id" },
      nodes = { { "synthetic", "", 1, 0, 2 }, { "object", "A", 3, 16, 4 } }, edges = { { 1, 2, "property", "a" } } }
    local snap, err, code = heap.parse(fx.encode(t))
    assert.is_nil(snap)
    assert.equal("EFORMAT", code)
    assert.matches('node_fields names "id" twice', err)
    local text = fx.encode(fx.v8 { nodes = { { "synthetic", "", 1, 0 } }, edges = {} })
      :gsub('"edge_fields":%[', '"edge_fields":["to_node",')
    snap, err, code = heap.parse(text)
    assert.is_nil(snap)
    assert.equal("EFORMAT", code)
    assert.matches('edge_fields names "to_node" twice', err)
    -- the CLI: exit 3 with the engine's message
    local path = fx.write(dir .. "/dup.heapsnapshot", fx.encode(t))
    local rc, _, cerr = run.memdbg { "summary", path, timeout = 20 }
    assert.equal(3, rc)
    assert.matches("twice", cerr)
  end)
end)

describe("numbers on the command line", function()
  local file
  setup(function()
    file = os.tmpname()
    fx.write(file, chain(10))
  end)
  teardown(function() os.remove(file) end)

  it("huge, infinite, NaN or fractional counts and ids exit 2 with a message (never 70)", function()
    for _, argv in ipairs {
      { "retainers", file, "99999999999999999999" }, { "retainers", file, "1e309" }, { "retainers", file, "4294967296" },
      { "retainers", file, "1.5" }, { "summary", file, "--top", "1e309" }, { "summary", file, "--top", "-1" },
      { "summary", file, "--top", "nan" }, { "top", file, "--top", "1e309" }, { "top", file, "--top", "2.5" },
      { "diff", file, file, "--top", "inf" }, { "find-leaks", file, file, file, "--top", "1e400" },
      { "monitor", "--count", "1e309" }, { "monitor", "--interval", "nan" }, { "snapshot", "--timeout", "inf" },
      { "leaks", "--action", "1", "--gc-rounds", "1e309" }, { "gc", "--rounds", "0.5" },
    } do
      argv.timeout = 20
      local code, _, err = run.memdbg(argv)
      assert.equal(2, code, table.concat(argv, " ") .. ": " .. err)
      assert.matches("must be a (%a+) number", err)
      assert.is_nil(err:find("internal error", 1, true), err)
    end
  end)

  it("in-range values still work: retainers by id, --top 0 (all), --n 3", function()
    local code, out, err = run.memdbg { "retainers", file, "@5", timeout = 20 }
    assert.equal(0, code, err)
    assert.matches("Obj2 @5", out)
    code, out = run.memdbg { "summary", file, "--top", "0", "--json", timeout = 20 }
    assert.equal(0, code)
    assert.equal(7, #require("cjson").decode(out).classes)
    code, out = run.memdbg { "top", file, "--top", "3", "--json", timeout = 20 }
    assert.equal(0, code)
    assert.equal(3, #require("cjson").decode(out).objects)
  end)
end)

describe("error messages that are not strings", function()
  local steps = require("memdbg.workflows.steps")
  local describe_value = require("memdbg.util.describe")
  local json = require("memdbg.util.json")

  it("an action that raises a table, or the runtime's null, reads as text, never table: 0x…", function()
    local ok, err, code = steps.run_action(nil, function() error({ code = 7, where = "cache" }) end)
    assert.is_nil(ok)
    assert.equal("EACTION", code)
    assert.is_nil(err:find("table: ", 1, true), err)
    assert.matches('"code":7', err)
    ok, err = steps.run_action(nil, function() error({ message = "the cache is full" }) end)
    assert.is_nil(ok)
    assert.matches("the cache is full", err)
    assert.equal("null", describe_value(json.null))
    assert.equal("(a function value)", describe_value(print))
  end)

  it("frame.fail prints a table error as text on stderr and in --json", function()
    local base = os.tmpname()
    local p = io.popen(lua_bin() .. [[ -e 'package.path="lua/?.lua;"..package.path;]]
      .. [[package.cpath=(os.getenv("MEMDBG_BUILD") or "build/lua5.4").."/?.so;"..package.cpath;]]
      .. [[os.exit(require("memdbg.cli.frame").fail("memdbg x", {json=true}, {message="boom", n=1}, "EIO"))' 2>]] .. base)
    local out = p:read("*a")
    p:close()
    local err = run.slurp(base)
    os.remove(base)
    assert.equal("memdbg x: boom [EIO]\n", err)
    assert.equal("boom", require("cjson").decode(out).error)
  end)
end)

describe("memdbg.util.files (in process)", function()
  local files = require("memdbg.util.files")
  local dir
  before_each(function() dir = run.tmpdir() end)
  after_each(function() run.rm(dir) end)

  it("write: 0600, atomic replace of its own file, noClobber, never through a link or over a FIFO", function()
    local path = dir .. "/out.csv"
    assert(files.write(path, "one\n"))
    assert.equal("one\n", run.slurp(path))
    assert.equal("600", run.stat(path, "%a"))
    assert(files.write(path, "two\n"))
    assert.equal("two\n", run.slurp(path))
    local ok, err, code = files.write(path, "three\n", { noClobber = true })
    assert.is_nil(ok)
    assert.equal("EEXIST", code)
    assert.matches("exists", err)
    assert.equal("two\n", run.slurp(path))
    assert(os.execute("ln -s out.csv " .. dir .. "/link && mkfifo " .. dir .. "/fifo"))
    for _, p in ipairs { dir .. "/link", dir .. "/fifo", dir, "", dir .. "/none/x" } do
      ok, err, code = files.write(p, "x")
      assert.is_nil(ok, p)
      assert.equal("EPATH", code, p .. ": " .. tostring(err))
    end
    assert.equal("two\n", run.slurp(path))
    assert.same({ "fifo", "link", "out.csv" }, run.ls(dir))
  end)

  -- the mark read by Python, not by memdbg's own code
  local function mark(path)
    local h = io.popen("python3 -c 'import os,sys\ntry: print(os.getxattr(sys.argv[1], \"user.memdbg\").decode())\n"
      .. "except OSError: print(\"-\")' " .. run.quote(path))
    local v = h:read("*l")
    h:close()
    if v ~= "-" then return v end
  end

  it("a file memdbg did not create is refused (EEXIST) and kept byte-identical; force replaces it", function()
    local path = dir .. "/theirs.csv"
    local old = "their data\0\255\n"
    local f = assert(io.open(path, "wb"))
    f:write(old)
    f:close()
    assert(os.execute("ln " .. path .. " " .. dir .. "/theirs-link"))
    local ok, err, code = files.checkDestination(path)
    assert.is_nil(ok)
    assert.equal("EEXIST", code)
    assert.equal(path .. " exists and memdbg did not create it; choose another name, remove it, or pass --force",
      err)
    ok, err, code = files.write(path, "mine\n")
    assert.is_nil(ok)
    assert.equal("EEXIST", code, err)
    -- publish checks again by itself (what a caller that skipped the check gets)
    local nf = assert(files.create(path .. ".partial"))
    assert(nf:write("mine\n"))
    ok, err, code = nf:publish(path)
    assert(nf:close())
    assert.is_nil(ok)
    assert.equal("EEXIST", code, err)
    assert.equal(old, run.slurp(path))
    assert.is_nil(mark(path))
    assert.same({ "theirs-link", "theirs.csv" }, run.ls(dir))
    assert(files.write(path, "mine\n", { force = true }))
    assert.equal("mine\n", run.slurp(path))
    assert.equal("memdbg", mark(path))
    assert.equal(old, run.slurp(dir .. "/theirs-link"))
    assert.same({ "theirs-link", "theirs.csv" }, run.ls(dir))
  end)

  it("every file memdbg creates is marked, O_TMPFILE or named (O_EXCL) fallback", function()
    assert(files.write(dir .. "/a.svg", "a"))
    assert.equal("memdbg", mark(dir .. "/a.svg"))
    local script = dir .. "/fallback.lua"
    local f = assert(io.open(script, "w"))
    f:write([[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      package.cpath = (os.getenv("MEMDBG_BUILD") or "build/lua5.4") .. "/?.so;" .. package.cpath
      local files = require "memdbg.util.files"
      assert(files.write(arg[1], "b"))
      assert(files.write(arg[1], "c")) -- its own file: replaced
      local nf = assert(files.create(arg[1] .. ".partial"))
      assert(nf:write("d"))
      assert(nf:publish(arg[1]))
      assert(nf:close())
    ]])
    f:close()
    assert(os.execute("MEMDBG_NO_O_TMPFILE=1 " .. run.interpreter() .. " " .. script .. " " .. dir .. "/b.svg"))
    assert.equal("d", run.slurp(dir .. "/b.svg"))
    assert.equal("memdbg", mark(dir .. "/b.svg"))
    assert.same({ "a.svg", "b.svg", "fallback.lua" }, run.ls(dir))
  end)

  it("a filesystem without user xattrs (ramfs): nothing is marked, nothing existing replaced without force", function()
    local mnt = dir .. "/ramfs"
    assert(os.execute("mkdir " .. mnt))
    if not os.execute("mount -t ramfs none " .. mnt .. " 2>/dev/null") then
      pending("mounting a ramfs needs root")
      return
    end
    local ok, res = pcall(function()
      local path = mnt .. "/out.csv"
      assert(files.write(path, "one\n"))
      assert.is_nil(mark(path))
      local w, err, code = files.write(path, "two\n")
      assert.is_nil(w)
      assert.equal("EEXIST", code)
      assert.equal(path .. " exists and memdbg cannot tell whether it created it (this filesystem has no user "
        .. "extended attributes to mark its files); choose another name, remove it, or pass --force", err)
      assert.equal("one\n", run.slurp(path))
      assert(files.write(path, "three\n", { force = true }))
      assert.equal("three\n", run.slurp(path))
      assert.same({ "out.csv" }, run.ls(mnt))
    end)
    os.execute("umount " .. mnt)
    assert(ok, res)
  end)

  it("create: nothing visible until published; closed unpublished, nothing is left", function()
    local f = assert(files.create(dir .. "/x.partial"))
    assert(f:write("data"))
    assert.same({}, run.ls(dir))
    assert(f:close())
    assert(f:close()) -- twice is fine
    assert.same({}, run.ls(dir))
    f = assert(files.create(dir .. "/y.partial"))
    assert(f:write("row 1\n"))
    assert(f:publish(dir .. "/y.csv"))
    assert(f:write("row 2\n")) -- appended after it is in place
    assert(f:close())
    assert.equal("row 1\nrow 2\n", run.slurp(dir .. "/y.csv"))
    assert.same({ "y.csv" }, run.ls(dir))
  end)
end)
