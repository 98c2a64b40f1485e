-- Helpers shared by the runtime integration specs: run a memdbg script or the
-- CLI as a child process, read files, pick rows out of reports.
local files = require("memdbg.util.files")

local cli = {}
local q = files.quote

-- `LUA SCRIPT ARGS...` with the interpreter of the build under test:
-- exit code, stdout, stderr. A workflow script finds memdbg as the README
-- says for a checkout: eval "$(make -s paths)" first.
function cli.lua54(script, ...)
  local build = os.getenv("MEMDBG_BUILD") or "build/lua5.4"
  local lua = require("support.run").interpreter()
  local argv = { lua, script, ... }
  for i, a in ipairs(argv) do argv[i] = q(a) end
  -- make's variables go: the user types this in a shell, and under CI's
  -- `make check` an inherited MAKEFLAGS=w adds "Entering directory" lines.
  local paths = script:match("%.lua$")
      and ('eval "$(env -u LD_PRELOAD -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s paths LUA=' .. lua
        .. " BUILD=" .. q(build) .. ')" && ')
    or ""
  local errf = os.tmpname()
  local p = assert(io.popen(paths .. "MEMDBG_BUILD=" .. q(build) .. " " .. table.concat(argv, " ") .. " 2>" .. q(errf)
    .. "; printf '\\nEXIT:%d' $?"))
  local out = p:read("*a")
  p:close()
  local f = io.open(errf)
  local err = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(errf)
  local body, code = out:match("^(.*)\nEXIT:(%d+)$")
  return tonumber(code), body, err
end

-- `memdbg ARGS...`
function cli.memdbg(...)
  return cli.lua54("scripts/memdbg", ...)
end

function cli.file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

function cli.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

function cli.group(report, class)
  for _, g in ipairs(report.leaks) do
    if g.class == class then return g end
  end
end

function cli.class_row(rows, name)
  for _, r in ipairs(rows) do
    if r.name == name then return r end
  end
end

return cli
