-- Option parsing for the subcommands and the workflow scripts.
--   local opts, positional = args.parse(argv, spec)   -- or nil, message
-- spec maps option names to "string", "number" (finite), "count" (a whole
-- number 0..2^31-1, as an integer), "flag", "optional" (a string when one
-- follows, else true) or a table { kind, default }.
-- The short forms -e, -o, -j, -h stand for --endpoint, --out, --json, --help
-- wherever the long option exists (-h always). --help sets opts.help; the
-- frame prints the help. `--` ends the options.
--
-- A usage error (exit 2) is a value: parse and the checks return nil,
-- message. Code deep inside a check may raise one with args.usage_error(msg)
-- (an args.UsageError table, never a string to match); the frame catches it.
local args = {}

local UsageError = {}
UsageError.__index = UsageError
UsageError.__tostring = function(e) return "usage error: " .. e.message end
args.UsageError = UsageError

--- is_usage(v) -> true when v is a usage error raised by usage_error
function args.is_usage(v)
  return getmetatable(v) == UsageError
end

function args.usage_error(msg)
  error(setmetatable({ message = msg }, UsageError), 0)
end

args.SHORT = { e = "endpoint", o = "out", j = "json", h = "help" }
args.MAX_COUNT = 2147483647

local function as_integer(n)
  return math.tointeger and math.tointeger(n) or n
end

--- number(text, what) -> a finite number | nil, message naming what
function args.number(text, what)
  local n = tonumber(text)
  if not n or n ~= n or n == math.huge or n == -math.huge then
    return nil, string.format("%s must be a finite number, not '%s'", what, tostring(text))
  end
  return n
end

--- integer(text, what, min, max) -> a whole number in [min, max] (an integer
--- under Lua 5.4) | nil, message naming what and the range
function args.integer(text, what, min, max)
  local n = tonumber(text)
  if not n or n ~= n or n ~= math.floor(n) or n < min or n > max then
    return nil, string.format("%s must be a whole number from %d to %d, not '%s'", what, min, max, tostring(text))
  end
  return as_integer(math.floor(n))
end

local function value_of(kind, v, name)
  if kind == "number" then return args.number(v, "--" .. name) end
  if kind == "count" then return args.integer(v, "--" .. name, 0, args.MAX_COUNT) end
  return v
end

--- parse(argv, spec) -> opts, positional | nil, message
function args.parse(argv, spec)
  local opts, positional = {}, {}
  for name, s in pairs(spec) do
    if type(s) == "table" then opts[name] = s[2] end
  end
  local i, n = 1, #argv
  while i <= n do
    local a = argv[i]
    local name, inline = a:match("^%-%-([%w%-]+)=(.*)$")
    name = name or a:match("^%-%-([%w%-]+)$")
    local short = not name and a:match("^%-(%a)$")
    if short then
      name = args.SHORT[short]
      if not name or (name ~= "help" and spec[name] == nil) then return nil, "unknown option -" .. short end
    end
    if a == "--" then
      for k = i + 1, n do positional[#positional + 1] = argv[k] end
      break
    elseif name == "help" then
      opts.help = true
    elseif name then
      local s = spec[name]
      if s == nil then return nil, "unknown option --" .. name end
      local kind = type(s) == "table" and s[1] or s
      if kind == "flag" then
        if inline ~= nil then return nil, "--" .. name .. " takes no value" end
        opts[name] = true
      else
        local v = inline
        if v == nil and kind == "optional" then
          -- its value only when one follows (not another option): true otherwise
          local nxt = argv[i + 1]
          if nxt ~= nil and not nxt:match("^%-") then v, i = nxt, i + 1 else v = true end
        elseif v == nil then
          i = i + 1
          v = argv[i]
        end
        if v == nil then return nil, "--" .. name .. " needs a value" end
        local err
        v, err = value_of(kind, v, name)
        if v == nil then return nil, err end
        opts[name] = v
      end
    elseif a:match("^%-%-") then
      return nil, "unknown option " .. a
    else
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  return opts, positional
end

--- Output options (--out FILE, --dir DIR, a --csv or --svg FILE) are checked
--- before anything is asked of the runtime: true | nil, message (a usage error).
--- clobber is {noClobber=, force=} (frame.clobber(opts)).
function args.check_output(path, dir, clobber)
  local files = require("memdbg.util.files")
  if path ~= nil then
    local ok, err = files.checkDestination(path, clobber)
    if not ok then return nil, err end
  end
  if dir ~= nil then
    local ok, err = files.checkDirectory(dir)
    if not ok then return nil, err end
  end
  return true
end

return args
