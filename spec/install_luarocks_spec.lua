-- The install a Lua user takes (issue 14): README.md's LuaRocks commands, run
-- exactly as written for Lua 5.4, Lua 5.1 and LuaJIT one after the other in
-- this checkout (each into a fresh tree), then `memdbg usage` from the tree
-- and a copy of scripts/monitor.lua run by the flavour's interpreter against
-- a real Node app, in another folder than the checkout.
-- It builds its own modules for all three, so it runs in the Lua 5.4 pass only.
local node = require("support.node")
local run = require("support.run")
local json = require("cjson")

local q = run.quote

-- The ```sh block of README.md's "Install with LuaRocks" section, split at
-- its comment lines: { {name = "Lua 5.4", lines = {...}}, ... }
local function readme_flavours()
  local readme = run.slurp("README.md")
  local section = assert(readme:match("\n## Install with LuaRocks[^\n]*\n(.-)\n## "), "no install section")
  local block = assert(section:match("```sh\n(.-)```"), "no sh block in the install section")
  local flavours = {}
  for line in block:gmatch("[^\n]+") do
    local name = line:match("^# (.-)%s*%(") or line:match("^# (.-)%s*$")
    if name then
      flavours[#flavours + 1] = { name = name, lines = {} }
    else
      table.insert(flavours[#flavours].lines, line)
    end
  end
  return flavours
end

local INTERPRETER = { ["Lua 5.4"] = "lua5.4", ["Lua 5.1"] = "lua5.1", ["LuaJIT"] = "luajit" }

-- Runs the flavour's commands with TREE replaced, then `cmd` in dir;
-- returns exit code, stdout of cmd, stderr, stdout of the install.
local function install_and_run(flavour, tree, dir, cmd)
  local lines = {}
  for i, l in ipairs(flavour.lines) do lines[i] = (l:gsub("TREE", tree)) end
  local script = "set -e\n" .. table.concat(lines, "\n") .. "\ncd " .. q(dir) .. "\necho '-- run --'\n" .. cmd .. "\n"
  local base = os.tmpname()
  -- the interpreter's own environment, not the suite's (a sanitizer preload, busted's paths)
  os.execute("env -u LD_PRELOAD -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 sh -c " .. q(script)
    .. " >" .. base .. ".out 2>" .. base .. ".err </dev/null; echo $? >" .. base .. ".rc")
  local code, out, err = tonumber(run.slurp(base .. ".rc")), run.slurp(base .. ".out"), run.slurp(base .. ".err")
  for _, s in ipairs { "", ".out", ".err", ".rc" } do os.remove(base .. s) end
  local install, ran = out:match("^(.-)%-%- run %-%-\n(.*)$")
  return code, ran or "", err, install or out
end

local plain54 = _VERSION == "Lua 5.4" and not os.getenv("MEMDBG_SANITIZED")
local has_luarocks = os.execute("command -v luarocks >/dev/null 2>&1")
local suite = (plain54 and has_luarocks) and describe or pending
local why = not has_luarocks and "luarocks not installed: "
  or not plain54 and "runs in the Lua 5.4 pass only (it builds its own modules for 5.4, 5.1 and LuaJIT): " or ""

suite(why .. "luarocks make as the README says, for Lua 5.4, Lua 5.1 and LuaJIT", function()
  local app, dir, checkout
  setup(function()
    local p = io.popen("pwd")
    checkout = p:read("*l")
    p:close()
    app = node.start { source = "globalThis.keep = []; setInterval(() => keep.push({}), 1000); console.log('ready')",
      ready = "ready" }
    dir = run.tmpdir()
  end)
  teardown(function()
    node.stop(app)
    run.rm(dir)
  end)

  it("the README names the three flavours", function()
    local names = {}
    for _, f in ipairs(readme_flavours()) do names[#names + 1] = f.name end
    assert.same({ "Lua 5.4", "Lua 5.1", "LuaJIT" }, names)
  end)

  -- in the README's order: each install after another must build its own modules
  for _, flavour in ipairs(readme_flavours()) do
    it(flavour.name .. ": installs into a fresh tree, and memdbg usage runs from it on " .. INTERPRETER[flavour.name],
      function()
        local tree = dir .. "/tree-" .. INTERPRETER[flavour.name]
        local elsewhere = dir .. "/elsewhere"
        os.execute("mkdir -p " .. q(elsewhere))
        local copy = "cp " .. q(checkout .. "/scripts/monitor.lua") .. " monitor.lua && "
          .. INTERPRETER[flavour.name] .. " monitor.lua --endpoint " .. app.endpoint .. " --count 2 --interval 0"
        local code, out, err, install = install_and_run(flavour, tree, elsewhere,
          "command -v memdbg; memdbg usage --json --endpoint " .. app.endpoint .. "; " .. copy)
        assert.equal(0, code, install .. out .. err)
        local path, doc, script = out:match("^([^\n]+)\n([^\n]+)\n(.*)$")
        -- the copied script: its samples and summary
        assert.matches("Heap: [%d.]+ [KMG]i?B / [%d.]+ [KMG]i?B", script)
        assert.matches("2 samples", script)
        assert.equal(tree .. "/bin/memdbg", path)
        local usage = json.decode(doc)
        assert.equal("node", usage.runtime)
        assert.is_true(usage.usedSize > 0)
        -- the wrapper runs the flavour's interpreter, on the tree's own modules
        assert.matches("exec '/usr/bin/" .. INTERPRETER[flavour.name]:gsub("%.", "%%.") .. "'", run.slurp(path))
        local v = INTERPRETER[flavour.name] == "lua5.4" and "5.4" or "5.1"
        assert.truthy(run.slurp(tree .. "/lib/lua/" .. v .. "/memdbg/_heap.so"))
      end)
  end
end)
