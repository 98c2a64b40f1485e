-- Starting and stopping background processes from specs, in plain Lua:
-- a shell starts the child with its output in a log file and reports its PID.
local proc = {}

local function shell_quote(s)
  s = tostring(s)
  if s:match("^[%w%-%._/:=@,+]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
proc.quote = shell_quote

-- A sanitizer build preloads libasan into the Lua interpreter; children such
-- as node or chromium must not inherit that.
local CLEAN_ENV = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS"

function proc.sleep(seconds)
  os.execute("sleep " .. string.format("%.3f", seconds))
end

--- spawn{argv, env = {K = V}, cwd = dir} -> handle {pid, log}
function proc.spawn(opts)
  local parts = { CLEAN_ENV }
  for k, v in pairs(opts.env or {}) do parts[#parts + 1] = k .. "=" .. shell_quote(v) end
  for _, a in ipairs(opts.argv) do parts[#parts + 1] = shell_quote(a) end
  local log = os.tmpname()
  local cmd = table.concat(parts, " ")
  if opts.cwd then cmd = "cd " .. shell_quote(opts.cwd) .. " && exec " .. cmd end
  -- setsid: the child gets its own process group so stop() takes its children too
  local f = assert(io.popen(string.format("setsid sh -c %s >%s 2>&1 </dev/null & echo $!",
    shell_quote(cmd), log)))
  local pid = tonumber(f:read("*l"))
  f:close()
  assert(pid, "could not start " .. cmd)
  return { pid = pid, log = log, cmd = cmd }
end

function proc.output(h)
  local f = io.open(h.log, "r")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

-- A zombie counts as gone: orphans are not always reaped here, and kill -0
-- succeeds on them.
function proc.alive(h)
  local f = io.open("/proc/" .. h.pid .. "/stat", "r")
  if not f then return false end
  local stat = f:read("*a") or ""
  f:close()
  local state = stat:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

--- Waits until the child's output matches `pattern`; returns the captures.
function proc.wait_for(h, pattern, timeout)
  local deadline = os.time() + (timeout or 20)
  repeat
    local out = proc.output(h)
    local caps = { out:match(pattern) }
    if caps[1] then return table.unpack(caps) end
    if not proc.alive(h) then
      error(string.format("process exited before printing %q:\n%s\n%s", pattern, h.cmd, out))
    end
    proc.sleep(0.05)
  until os.time() > deadline
  error(string.format("timed out waiting for %q from %s:\n%s", pattern, h.cmd, proc.output(h)))
end

--- Sends a signal to the child's whole process group at once (no waiting).
function proc.kill(h, signal)
  os.execute(string.format("kill -%s -%d 2>/dev/null", signal or "KILL", h.pid))
end

--- Stops the child and its process group; waits until it is gone.
function proc.stop(h, signal)
  if not h or h.stopped then return end
  os.execute(string.format("kill -%s -%d 2>/dev/null; kill -%s %d 2>/dev/null",
    signal or "TERM", h.pid, signal or "TERM", h.pid))
  for _ = 1, 100 do
    if not proc.alive(h) then break end
    proc.sleep(0.05)
  end
  if proc.alive(h) then os.execute("kill -KILL -" .. h.pid .. " 2>/dev/null") end
  h.stopped = true
  os.remove(h.log)
end

return proc
