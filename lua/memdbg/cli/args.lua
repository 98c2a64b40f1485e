-- Option parsing shared by the subcommands and the workflow scripts.
--   local opts, positional = args.parse(argv, spec, helptext)
-- spec maps option names to "string", "number", "flag" or a table
-- { kind, default }. Unknown options and bad values raise a usage error,
-- which the dispatcher turns into exit code 2; --help prints helptext, exits 0.
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
        if v == nil then
          i = i + 1
          v = argv[i]
        end
        if v == nil then args.usage_error("--" .. name .. " needs a value") end
        if kind == "number" then
          local n = tonumber(v)
          if not n then args.usage_error("--" .. name .. " takes a number, not '" .. v .. "'") end
          v = n
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

--- Output options (--out FILE, --dir DIR, a --csv or --svg FILE) are checked
--- before anything is asked of the runtime: a bad one is a usage error.
function args.check_output(path, dir, noClobber)
  local files = require("memdbg.files")
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
