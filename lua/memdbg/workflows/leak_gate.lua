-- The CI gate of a leak hunt: leak groups already known (an ignore file) and
-- small growth (--max-growth) do not fail the build; new leaks do.
--   local gate = require "memdbg.workflows.leak_gate"
--   local known = assert(gate.load_ignore("leaks-baseline.json"))   -- or a signature list
--   local n = gate.apply(report, { ignore = known, maxGrowth = 5 })  -- n: leak groups that count
-- An ignore file is a previous `memdbg leaks --json` output (its groups'
-- signatures) or a plain list of signatures, one a line, `#` starting a comment.
-- Groups keep their place in the report; matching ones get "ignored": true,
-- ones under the growth limit "belowMaxGrowth": true, and runtime-internal ones
-- (workflows/leak_noise.lua) never count.
local json = require("memdbg.util.json")

local gate = {}

-- Two 32-bit polynomial hashes mod primes: 16 hex digits, the same in Lua 5.4
-- and LuaJIT (no bit operations needed).
local function hash(s)
  local a, b = 7, 11
  for i = 1, #s do
    local c = s:byte(i)
    a = (a * 31 + c) % 4294967291
    b = (b * 131 + c) % 4294967279
  end
  return string.format("%08x%08x", a, b)
end

--- signature(group): the engine's group signature (issue 9) when it gives one;
--- otherwise one made here from the class and the retainer path's shape
--- (numbers stripped, so ids, indices and counts do not change it).
function gate.signature(g)
  if type(g.signature) == "string" and g.signature ~= "" then return g.signature end
  local parts = { tostring(g.class) }
  for _, step in ipairs(g.retainerPath or {}) do
    local shape = tostring(step):gsub("@%d+", ""):gsub("%d+", "#")
    if shape ~= parts[#parts] then parts[#parts + 1] = shape end -- a linked list's run of steps is one
  end
  return "p" .. hash(table.concat(parts, "\n"))
end

--- load_ignore(path) -> set {signature = true} | nil, message, "EIGNORE"
--- (or "EPATH": not a regular file; a FIFO is refused, never waited on)
function gate.load_ignore(path)
  local text, err, code = require("memdbg.util.files").read(path)
  if not text then
    return nil, "the ignore file: " .. tostring(err), code == "EPATH" and "EPATH" or "EIGNORE"
  end
  local set, n = {}, 0
  if text:match("^%s*{") then
    local doc, jerr = json.decode(text)
    if type(doc) ~= "table" then
      return nil, string.format("the ignore file %s starts like JSON but does not parse: %s", path, tostring(jerr)),
        "EIGNORE"
    end
    if type(doc.leaks) ~= "table" then
      return nil, string.format("the ignore file %s is JSON without a \"leaks\" array: give the output of "
        .. "`memdbg leaks --json` or a list of signatures, one a line", path), "EIGNORE"
    end
    for _, g in ipairs(doc.leaks) do
      if type(g) == "table" then
        set[gate.signature(g)] = true
        n = n + 1
      end
    end
  else
    local lineno = 0
    for line in (text .. "\n"):gmatch("([^\n]*)\n") do
      lineno = lineno + 1
      local sig = line:gsub("#.*$", ""):match("^%s*(.-)%s*$")
      if sig ~= "" then
        if sig:find("%s") then
          return nil, string.format("%s:%d: one signature a line (got %q); `#` starts a comment", path, lineno, sig),
            "EIGNORE"
        end
        set[sig] = true
        n = n + 1
      end
    end
  end
  return set, n
end

-- The objects a group gained per action: growth = {n1, n2} when the engine
-- gives it, otherwise count (first action) and grown (second).
local function per_action(g)
  if type(g.growth) == "table" and g.growth[1] then return g.growth[1], g.growth[2] or g.growth[1] end
  return g.count or 0, g.grown or g.count or 0
end

--- apply(report, {ignore = set, maxGrowth = N}) -> number of leak groups that
--- count (new, not ignored, not runtime-internal, grown by at least N per action).
--- Every group gets its signature.
function gate.apply(report, o)
  o = o or {}
  local counted = 0
  for _, g in ipairs(report.leaks or {}) do
    g.signature = gate.signature(g)
    if o.ignore and o.ignore[g.signature] then g.ignored = true end
    if o.maxGrowth then
      local a, b = per_action(g)
      if a < o.maxGrowth and b < o.maxGrowth then g.belowMaxGrowth = true end
    end
    if not g.ignored and not g.belowMaxGrowth and not g.runtimeInternal then counted = counted + 1 end
  end
  report.newLeaks = counted
  return counted
end

return gate
