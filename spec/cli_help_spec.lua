-- The command line says what it takes: each subcommand's --help names every
-- option it accepts, and every `memdbg COMMAND --flag` in the README and the
-- docs is a command and flag that --help lists.
local cli = require("memdbg.cli")
local run = require("support.run")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- `memdbg CMD ...` command lines in a text: code blocks and inline code.
local function command_lines(text)
  local out = {}
  local function scan(line)
    for rest in line:gmatch("memdbg ([%w%-][^`|;&]*)") do
      local name = rest:match("^([%w%-]+)")
      if name then out[#out + 1] = { name = name, args = rest } end
    end
  end
  for block in text:gmatch("```[^\n]*\n(.-)```") do
    for line in block:gmatch("[^\n]+") do
      -- shell and transcripts only: a Lua block's `memdbg.connect` is no command line
      if line:match("^%$ memdbg ") or line:match("^memdbg ") or line:match("[;&|(] *memdbg ") then scan(line) end
    end
  end
  for code in text:gmatch("`([^`\n]+)`") do
    -- a command in inline code, not a placeholder (memdbg NAME) or a page title (`memdbg app: MODE`)
    if code:match("^memdbg [%l%-][%l%-]*") and not code:match("^memdbg [%w%-]+:") then scan(code) end
  end
  return out
end

describe("memdbg --help and the documentation", function()
  local names = {}
  for _, c in ipairs(cli.commands) do names[#names + 1] = c[1] end

  it("every subcommand's help names each option it accepts", function()
    local missing = {}
    for _, name in ipairs(names) do
      local mod = assert(cli.load(name))
      local def = mod.def
      assert.is_table(def, name)
      for opt in pairs(def.options or {}) do
        if not mod.help:find("%-%-" .. opt:gsub("%-", "%%-") .. "[^%w%-]") then
          missing[#missing + 1] = name .. " --" .. opt
        end
      end
    end
    assert.are.same({}, missing)
  end)

  it("every `memdbg COMMAND --flag` in README.md and docs/ is a flag COMMAND --help lists", function()
    local files = { "README.md" }
    local p = assert(io.popen("ls docs/*.md"))
    for line in p:lines() do files[#files + 1] = line end
    p:close()
    local wrong, seen = {}, 0
    for _, file in ipairs(files) do
      for _, c in ipairs(command_lines(read(file))) do
        local mod = cli.load(c.name)
        if c.name ~= "help" and not c.name:match("^%-") then
          seen = seen + 1
          if not mod then
            wrong[#wrong + 1] = string.format("%s: memdbg %s: no such command", file, c.name)
          else
            for flag in (" " .. c.args):gmatch("%s(%-%-?[%w][%w%-]*)") do
              if not mod.help:find(flag:gsub("%-", "%%-") .. "[^%w%-]") then
                wrong[#wrong + 1] = string.format("%s: memdbg %s %s: not in its --help", file, c.name, flag)
              end
            end
          end
        end
      end
    end
    assert.is_true(seen > 20, "found only " .. seen .. " command lines")
    assert.are.same({}, wrong)
  end)

  it("the check sees a flag --help does not list", function()
    local lines = command_lines("```\n$ memdbg top a.heapsnapshot --n 3\n```\nand `memdbg summary x --top 5`")
    assert.equal(2, #lines)
    assert.equal("top", lines[1].name)
    assert.is_nil((assert(cli.load("top")).help:find("%-%-n[^%w%-]")))
  end)

  it("memdbg help COMMAND is COMMAND --help; --version; an unknown command is exit 2", function()
    local code, out = run.memdbg { "help", "diff", timeout = 20 }
    assert.equal(0, code)
    local code2, out2 = run.memdbg { "diff", "--help", timeout = 20 }
    assert.equal(0, code2)
    assert.equal(out2, out)
    assert.truthy(out:match("^usage: memdbg diff BASE FILE"), out)
    code, out = run.memdbg { "--version", timeout = 20 }
    assert.equal(0, code)
    assert.truthy(out:match("^memdbg %d+%.%d+%.%d+ %(Lua"), out)
    code = run.memdbg { "help", "nosuch", timeout = 20 }
    assert.equal(2, code)
    code = run.memdbg { "nosuch", timeout = 20 }
    assert.equal(2, code)
  end)

  it("short flags: -j is --json, -o is --out, -e is --endpoint; -x is a usage error", function()
    local code, out, err = run.memdbg { "gc", "-e", "127.0.0.1:1", "-j", timeout = 20 }
    assert.equal(3, code, err)
    assert.truthy(err:match("^memdbg gc: .-127%.0%.0%.1:1"), err)
    assert.equal("ECONNREFUSED", require("cjson").decode(out).code)
    code, out, err = run.memdbg { "snapshot", "-e", "127.0.0.1:1", "-o", "/", timeout = 20 }
    assert.equal(2, code, err .. out)
    code, out, err = run.memdbg { "gc", "-x", timeout = 20 }
    assert.equal(2, code, out)
    assert.truthy(err:match("unknown option %-x"), err)
  end)
end)
