-- Option parsing shared by the subcommands and the workflow scripts.
--   local opts, positional = args.parse(argv, spec, helptext)
-- spec maps option names to "string", "number" (finite), "count" (a whole
-- number 0..2^31-1, as an integer), "flag", "optional" (a string when one
-- follows, else true) or a table { kind, default }.
-- Unknown options and bad values (nan, inf, 1e309, 1.5 for a count) raise a
-- usage error, which the dispatcher turns into exit code 2; --help prints
-- helptext, exits 0.
local args = {}
args.USAGE_MARK = "memdbg%-usage: "

function args.usage_error(msg)
  error("memdbg-usage: " .. msg .. "\n", 0)
end

function args.parse(argv, spec, help)
  local opts, positional = {}, {}
  for name, s in pairs(spec) do
    if type(s) == "table" then opts[name] = s[2] end
  end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--help" or a == "-h" then
      io.stdout:write(help or "no help\n")
      os.exit(0)
    end
    local name, inline = a:match("^%-%-([%w%-]+)=(.*)$")
    name = name or a:match("^%-%-([%w%-]+)$")
    if name then
      local s = spec[name]
      if s == nil then args.usage_error("unknown option --" .. name) end
      local kind = type(s) == "table" and s[1] or s
      if kind == "flag" then
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
        if v == nil then args.usage_error("--" .. name .. " needs a value") end
        if kind == "number" then
          v = args.number(v, "--" .. name)
        elseif kind == "count" then
          v = args.integer(v, "--" .. name, 0, args.MAX_COUNT)
        end
        opts[name] = v
      end
    else
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  return opts, positional
end

args.MAX_COUNT = 2147483647

local function as_integer(n)
  return math.tointeger and math.tointeger(n) or n
end

--- number(text, what) -> a finite number, or a usage error naming what.
function args.number(text, what)
  local n = tonumber(text)
  if not n or n ~= n or n == math.huge or n == -math.huge then
    args.usage_error(string.format("%s must be a finite number, not '%s'", what, tostring(text)))
  end
  return n
end

--- integer(text, what, min, max) -> a whole number in [min, max] (an integer
--- under Lua 5.4), or a usage error naming what and the range.
function args.integer(text, what, min, max)
  local n = tonumber(text)
  if not n or n ~= n or n ~= math.floor(n) or n < min or n > max then
    args.usage_error(string.format("%s must be a whole number from %d to %d, not '%s'", what, min, max, tostring(text)))
  end
  return as_integer(math.floor(n))
end

--- Output options (--out FILE, --dir DIR, a --csv or --svg FILE) are checked
--- before anything is asked of the runtime: a bad one is a usage error.
function args.check_output(path, dir, noClobber)
  local files = require("memdbg.util.files")
  if path ~= nil then
    local ok, err = files.checkDestination(path, { noClobber = noClobber })
    if not ok then args.usage_error(err) end
  end
  if dir ~= nil then
    local ok, err = files.checkDirectory(dir)
    if not ok then args.usage_error(err) end
  end
end

return args
