-- The Lua side's layers (docs/architecture.md): a module requires only
-- modules of its own layer or of the layers below it, and only session.lua
-- touches a session's private fields.
local LAYERS = {
  { "util", "^memdbg%.util%." },
  { "analysis", "^memdbg%.analysis%." },
  { "memory", "^memdbg%.memory" },
  { "transport", "^memdbg%.transport%." },
  { "transport", "^memdbg$" }, -- the facade: memdbg.connect, memdbg.targets
  { "workflows", "^memdbg%.workflows%." },
  { "cli", "^memdbg%.cli" },
  { "nvim", "^memdbg%.nvim" },
  { "nvim", "^memdbg%.health$" },
}
local RANK = { c = 0, util = 1, analysis = 2, memory = 3, transport = 4, workflows = 5, cli = 6, nvim = 6 }

local function layer_of(module)
  if module:match("^memdbg%._") then return "c" end
  for _, l in ipairs(LAYERS) do
    if module:match(l[2]) then return l[1] end
  end
end

local function module_of(path)
  local m = path:match("^lua/(.-)%.lua$"):gsub("/init$", ""):gsub("/", ".")
  return m
end

local function lua_files()
  local list = {}
  local p = assert(io.popen("find lua/memdbg -name '*.lua' | sort"))
  for line in p:lines() do list[#list + 1] = line end
  p:close()
  return list
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- The module names a file requires (string literals; a dynamic
-- require("memdbg.memory." .. name) counts by its literal prefix), comments left out.
local function requires(text)
  local out = {}
  for line in text:gmatch("[^\n]*") do
    local code = line:gsub("%-%-.*$", "")
    for name in code:gmatch("require%s*%(?%s*[\"']([%w_%.]+)[\"']") do out[#out + 1] = name end
  end
  return out
end

describe("the layers of lua/memdbg", function()
  it("every module belongs to a layer", function()
    for _, path in ipairs(lua_files()) do
      local m = module_of(path)
      assert.is_not_nil(layer_of(m), m .. " (" .. path .. ") is in no layer")
    end
  end)

  it("no module requires one of a layer above its own (no memdbg.cli below the CLI)", function()
    local wrong = {}
    for _, path in ipairs(lua_files()) do
      local m = module_of(path)
      local mine = layer_of(m)
      for _, r in ipairs(requires(read(path))) do
        local theirs = r:match("^memdbg") and layer_of(r)
        if theirs and RANK[theirs] > RANK[mine] then
          wrong[#wrong + 1] = string.format("%s (%s) requires %s (%s)", m, mine, r, theirs)
        end
        if mine ~= "cli" and mine ~= "nvim" and r:match("^memdbg%.cli") then
          wrong[#wrong + 1] = m .. " requires the CLI: " .. r
        end
      end
    end
    assert.are.same({}, wrong)
  end)

  it("only transport/session.lua touches a session's private fields (session._*)", function()
    -- the private names are those session.lua itself uses
    local private = {}
    local own = read("lua/memdbg/transport/session.lua")
    for name in own:gsub('"[^"\n]*"', '""'):gmatch("[%.:]_(%a[%w]*)") do private[name] = true end
    for name in own:gmatch('"_(%a[%w]*)"') do private[name] = true end
    assert.is_true(private.conn and private.pending and private.closed and private.pump, "no private names found")
    local wrong = {}
    local files = lua_files()
    local p = assert(io.popen("ls scripts/*.lua"))
    for line in p:lines() do files[#files + 1] = line end
    p:close()
    for _, path in ipairs(files) do
      if path ~= "lua/memdbg/transport/session.lua" then
        local n = 0
        for line in read(path):gmatch("[^\n]*") do
          n = n + 1
          local code = line:gsub("%-%-.*$", ""):gsub('"[^"]*"', '""'):gsub("'[^']*'", "''")
          for name in code:gmatch("[%.:]_(%a[%w]*)") do
            if private[name] then wrong[#wrong + 1] = string.format("%s:%d: _%s", path, n, name) end
          end
        end
      end
    end
    assert.are.same({}, wrong)
  end)

  it("the check sees a require that reaches up", function()
    assert.are.same({ "memdbg.cli.args", "memdbg.util.json" },
      requires('local a = require("memdbg.cli.args")\nlocal j = require "memdbg.util.json" -- require("x")'))
    assert.equal("cli", layer_of("memdbg.cli.args"))
    assert.equal("transport", layer_of("memdbg"))
    assert.equal("memory", layer_of("memdbg.memory"))
    assert.is_true(RANK[layer_of("memdbg.cli.frame")] > RANK[layer_of("memdbg.workflows.steps")])
  end)
end)
