-- Runs `memdbg` as a user does, with the interpreter that matches the build
-- under test (LuaJIT's modules do not load in Lua 5.4), in the foreground or
-- in the background (to signal it mid-way). The environment is inherited, so
-- a sanitizer build's preload reaches the child.
local run = {}

local function q(s)
  s = tostring(s)
  if s:match("^[%w%-%._/:=@,+]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
run.quote = q

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
run.slurp = slurp

--- The interpreter of the build under test (build/lua5.4, build/lua5.1-san, build/luajit...).
function run.interpreter()
  local build = os.getenv("MEMDBG_BUILD") or "build/lua5.4"
  return build:match("luajit") and "luajit" or build:match("lua5%.1") and "lua5.1" or "lua5.4"
end

local function command(env, args)
  local build = os.getenv("MEMDBG_BUILD") or "build/lua5.4"
  local lua = run.interpreter()
  local parts = { "env", "MEMDBG_BUILD=" .. q(build) }
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. q(v) end
  parts[#parts + 1] = lua
  parts[#parts + 1] = "scripts/memdbg"
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  return table.concat(parts, " ")
end

--- memdbg{args..., env = {K = V}, timeout = S} -> exit code, stdout, stderr
--- (exit 124 when it ran past timeout seconds and was killed).
function run.memdbg(t)
  local base = os.tmpname()
  local cmd = command(t.env, t)
  if t.timeout then cmd = "timeout -s KILL " .. t.timeout .. " " .. cmd end
  os.execute(cmd .. " >" .. base .. ".out 2>" .. base .. ".err </dev/null; echo $? >" .. base .. ".rc")
  local code = tonumber(slurp(base .. ".rc"))
  local out, err = slurp(base .. ".out") or "", slurp(base .. ".err") or ""
  for _, s in ipairs { "", ".out", ".err", ".rc" } do os.remove(base .. s) end
  if code == 137 and t.timeout then code = 124 end
  return code, out, err
end

--- start{args..., env=} -> handle: memdbg in the background, in a process
--- group of its own (run.signal signals memdbg, not its shell).
function run.start(t)
  local base = os.tmpname()
  local inner = command(t.env, t) .. " >" .. base .. ".out 2>" .. base .. ".err"
    .. " </dev/null; echo $? >" .. base .. ".rc"
  local f = assert(io.popen("setsid sh -c " .. q(inner) .. " >/dev/null 2>&1 & echo $!"))
  local pid = tonumber(f:read("*l"))
  f:close()
  return { pid = pid, base = base }
end

local function children(h)
  local kids = {}
  for pid in (slurp("/proc/" .. h.pid .. "/task/" .. h.pid .. "/children") or ""):gmatch("%d+") do
    kids[#kids + 1] = pid
  end
  return kids
end

--- Sends a signal to the memdbg process (not its shell).
function run.signal(h, sig)
  for _, pid in ipairs(children(h)) do os.execute("kill -" .. sig .. " " .. pid .. " 2>/dev/null") end
end

--- Waits until the memdbg process has a file under dir open for writing
--- (a snapshot streaming there); returns its name as /proc shows it.
function run.wait_writing(h, dir, timeout)
  local deadline = os.time() + (timeout or 30)
  repeat
    for _, pid in ipairs(children(h)) do
      local p = io.popen("ls -l /proc/" .. pid .. "/fd 2>/dev/null")
      local listing = p:read("*a")
      p:close()
      for target in listing:gmatch("%-> ([^\n]+)") do
        if target:sub(1, #dir + 1) == dir .. "/" then return target end
      end
    end
    os.execute("sleep 0.02")
  until os.time() > deadline
  error("memdbg never opened a file in " .. dir)
end

--- wait(h, timeout) -> exit code, stdout, stderr (nil code: still running,
--- then killed).
function run.wait(h, timeout)
  local deadline = os.time() + (timeout or 30)
  local code
  repeat
    code = tonumber(slurp(h.base .. ".rc") or "")
    if code then break end
    os.execute("sleep 0.05")
  until os.time() > deadline
  if not code then os.execute("kill -KILL -" .. h.pid .. " 2>/dev/null") end
  local out, err = slurp(h.base .. ".out") or "", slurp(h.base .. ".err") or ""
  for _, s in ipairs { "", ".out", ".err", ".rc" } do os.remove(h.base .. s) end
  return code, out, err
end

--- A new private directory; rm(dir) removes it.
function run.tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -m 0700 " .. p))
  return p
end

function run.rm(dir)
  if dir then os.execute("rm -rf " .. q(dir)) end
end

--- The names in dir (sorted), "." and ".." left out.
function run.ls(dir)
  local names = {}
  local p = io.popen("ls -A " .. q(dir))
  for l in p:lines() do names[#names + 1] = l end
  p:close()
  table.sort(names)
  return names
end

--- `stat -c FORMAT path` (nil when absent; links are not followed).
function run.stat(path, format)
  local p = io.popen("stat -c " .. q(format) .. " " .. q(path) .. " 2>/dev/null")
  local s = p:read("*l")
  p:close()
  return s
end

return run
