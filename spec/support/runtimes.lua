-- Starts the real JavaScript runtimes memdbg talks to, each running one of the
-- demo apps in spec/apps/, on free loopback ports; waits until the inspector
-- answers; stops them by process group. See docs/runtimes.md.
--
--   local runtimes = require "support.runtimes"
--   local ok, why = runtimes.available("deno")
--   local rt = runtimes.start("deno", { app = "leaky" })
--   rt.endpoint, rt.ws, rt.http, rt.pid, rt.kind
--   runtimes.request(rt, "/work?n=100")
--   runtimes.stop(rt)
--
-- Kinds: node, chromium, deno, wrangler, workerd, bun.
-- Apps (opts.app): leaky, clean, idle (default); chromium also detached.
local proc = require("support.proc")

local M = {}

M.kinds = { "node", "chromium", "deno", "wrangler", "workerd", "bun" }

local APPS = {
  node = { leaky = true, clean = true, idle = true },
  deno = { leaky = true, clean = true, idle = true },
  bun = { leaky = true, clean = true, idle = true },
  wrangler = { leaky = true, clean = true, idle = true },
  workerd = { leaky = true, clean = true, idle = true },
  chromium = { leaky = true, clean = true, idle = true, detached = true },
}

local INSTALL_HINT = "run tools/install-runtimes.sh"

-- The repo root: two levels above this file (spec/support/runtimes.lua).
local function repo_root()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  local dir = src:match("^(.*)/spec/support/[^/]+$") or "."
  if dir:sub(1, 1) ~= "/" then
    local p = io.popen("pwd")
    local cwd = p:read("*l")
    p:close()
    dir = (dir == "." or dir == "") and cwd or (cwd .. "/" .. dir)
  end
  return dir
end

M.root = repo_root()
M.apps = M.root .. "/spec/apps"
-- deno, bun, wrangler and workerd: npm packages pinned in tools/js (docs/runtimes.md)
local NM = M.root .. "/tools/js/node_modules"

local q = proc.quote
local unpack = table.unpack or _G.unpack
local function pack(...) return { n = select("#", ...), ... } end

-- Helper commands (curl, node -e, ps) must not inherit a sanitizer build's
-- LD_PRELOAD of libasan, as proc.spawn's children do not.
local CLEAN_ENV = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS "

-- os.execute: true in Lua 5.4, 0 in LuaJIT / 5.1.
local function run(cmd)
  local r = os.execute(CLEAN_ENV .. "sh -c " .. q(cmd))
  return r == true or r == 0
end

local function sh(cmd)
  local p = assert(io.popen(CLEAN_ENV .. "sh -c " .. q(cmd)))
  local out = p:read("*a")
  p:close()
  return out
end

local function is_exec(path)
  return path ~= nil and run("test -x " .. q(path))
end

local function on_path(name)
  local out = sh("command -v " .. q(name) .. " 2>/dev/null")
  out = out:match("^%s*(.-)%s*$")
  return out ~= "" and out or nil
end

--- Monotonic-enough clock with 10 ms resolution.
local function now()
  local f = io.open("/proc/uptime")
  if f then
    local t = tonumber(f:read("*n"))
    f:close()
    if t then return t end
  end
  return os.time()
end
M.now = now

local json = (function()
  local ok, cjson = pcall(require, "cjson.safe")
  if ok then return cjson end
  return nil
end)()

function M.decode(s)
  if not json then error("lua-cjson is needed to read the inspector's JSON (tools/install-deps.sh)") end
  return json.decode(s)
end

--- Plain HTTP GET with curl (no proxy, no Origin): body, status (number; 0 when
--- nothing answered).
function M.http_get(url, timeout)
  local out = sh(string.format("curl -s --noproxy '*' -m %g -o - -w '\\n%%{http_code}' %s 2>/dev/null",
    timeout or 5, q(url)))
  local body, status = out:match("^(.*)\n(%d+)$")
  return body or "", tonumber(status) or 0
end

--- Opens a websocket handshake to a ws:// URL (no Origin header) and closes it
--- at once: the HTTP status of the answer (101 when it accepts), or 0.
function M.ws_handshake(url, timeout)
  local host, port, path = url:match("^ws://([^:/]+):(%d+)(/.*)$")
  if not host then return 0 end
  local out = sh("node -e " .. q(string.format([[
const s = require("net").connect(%s, %q);
const t = setTimeout(() => { console.log(0); process.exit(0); }, %d);
s.on("connect", () => s.write("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
s.on("data", d => {
  const m = /^HTTP\/1\.1 (\d+)/.exec(d.toString());
  console.log(m ? m[1] : 0); clearTimeout(t); s.destroy();
});
s.on("error", () => { console.log(0); clearTimeout(t); });]], port, host, math.floor((timeout or 3) * 1000),
    path, host, port)) .. " 2>/dev/null")
  return tonumber(out:match("%d+")) or 0
end

--- n free loopback TCP ports, asked from the kernel (bind to port 0) in one go.
function M.free_ports(n)
  local out = sh("node -e " .. q(string.format([[
const net = require("net"); const n = %d; const ss = []; const ports = [];
const next = () => {
  if (ss.length === n) { console.log(ports.join(" ")); ss.forEach(s => s.close()); return; }
  const s = net.createServer(); ss.push(s);
  s.listen(0, "127.0.0.1", () => { ports.push(s.address().port); next(); });
};
next();]], n or 1)))
  local ports = {}
  for p in out:gmatch("%d+") do ports[#ports + 1] = tonumber(p) end
  assert(#ports == (n or 1), "could not get free ports from the kernel: " .. out)
  return unpack(ports)
end

-- Binaries ------------------------------------------------------------------

local function first_exec(list) -- list may have holes (unset env vars)
  for i = 1, list.n or #list do
    local p = list[i]
    if p and is_exec(p) then return p end
  end
end

local finders = {
  node = function()
    return os.getenv("MEMDBG_NODE") or on_path("node"), "node not on PATH"
  end,
  chromium = function()
    local p = first_exec(pack(os.getenv("MEMDBG_CHROMIUM"))) or on_path("chromium")
      or on_path("chromium-browser")
    return p, "no chromium on PATH: " .. INSTALL_HINT .. " as root (apt-get install chromium)"
  end,
  deno = function()
    return first_exec(pack(os.getenv("MEMDBG_DENO"), NM .. "/.bin/deno")) or on_path("deno"),
      "no tools/js/node_modules/.bin/deno: " .. INSTALL_HINT
  end,
  bun = function()
    -- bun's postinstall hard-links the binary behind .bin/bun; with scripts
    -- ignored .bin/bun is a placeholder and the binary stays in @oven.
    local cands = pack(os.getenv("MEMDBG_BUN"), NM .. "/.bin/bun", NM .. "/@oven/bun-linux-x64/bin/bun",
      NM .. "/@oven/bun-linux-x64-baseline/bin/bun")
    for i = 1, cands.n do
      local p = cands[i]
      if p and is_exec(p) and run(q(p) .. " --version >/dev/null 2>&1") then return p end
    end
    return on_path("bun"), "no working bun in tools/js/node_modules: " .. INSTALL_HINT
  end,
  wrangler = function()
    local js = NM .. "/wrangler/bin/wrangler.js"
    local f = io.open(js)
    if f then f:close() return js end
    return nil, "no tools/js/node_modules/wrangler: " .. INSTALL_HINT
  end,
  workerd = function()
    return first_exec(pack(os.getenv("MEMDBG_WORKERD"), NM .. "/.bin/workerd",
      NM .. "/@cloudflare/workerd-linux-64/bin/workerd")) or on_path("workerd"),
      "no tools/js/node_modules/.bin/workerd: " .. INSTALL_HINT
  end,
}

local found = {}

--- Path of a runtime's binary (wrangler: its wrangler.js), or nil, why.
function M.binary(kind)
  if not finders[kind] then error("unknown runtime kind " .. tostring(kind), 2) end
  if found[kind] == nil then
    local p, why = finders[kind]()
    found[kind] = p and { p } or { false, why }
  end
  if found[kind][1] then return found[kind][1] end
  return nil, found[kind][2]
end

--- true, or false and why the runtime cannot be started here.
function M.available(kind)
  local p, why = M.binary(kind)
  if not p then return false, why end
  if kind == "wrangler" and not M.binary("node") then return false, "node not on PATH" end
  if not run("command -v curl >/dev/null 2>&1") then return false, "curl not on PATH" end
  if not json then return false, "lua-cjson missing: run tools/install-deps.sh" end
  return true
end

-- Waiting --------------------------------------------------------------------

local function tail(s, n)
  n = n or 4000
  if #s > n then return "…" .. s:sub(-n) end
  return s
end

local function fail(rt, msg)
  local log = rt.handle and proc.output(rt.handle) or ""
  local cmd = rt.handle and rt.handle.cmd or "?"
  M.stop(rt)
  error(string.format("%s did not start: %s\ncommand: %s\nlog:\n%s", rt.kind, msg, cmd, tail(log)), 0)
end

-- Polls fn() until it returns a truthy value; fails with the log when the
-- process exits or the deadline passes.
local function wait_until(rt, what, fn)
  repeat
    local r = { fn() }
    if r[1] then return unpack(r) end
    if not proc.alive(rt.handle) then fail(rt, "the process exited while waiting for " .. what) end
    proc.sleep(0.05)
  until now() > rt.deadline
  fail(rt, string.format("no %s within %g s", what, rt.timeout))
end

local function wait_log(rt, pattern, what)
  return wait_until(rt, what or string.format("%q in its output", pattern), function()
    return proc.output(rt.handle):match(pattern)
  end)
end

local function get_json(url)
  local body, status = M.http_get(url, 2)
  if status ~= 200 then return nil end
  return M.decode(body)
end
M.get_json = get_json

-- Waits until /json/version and /json/list answer; returns the target that
-- `pick(target)` accepts (default: the first).
local function wait_inspector(rt, pick)
  rt.version = wait_until(rt, "answer from " .. rt.endpoint .. "/json/version", function()
    return get_json(rt.endpoint .. "/json/version")
  end)
  return wait_until(rt, "matching target in " .. rt.endpoint .. "/json/list", function()
    local list = get_json(rt.endpoint .. "/json/list")
    if type(list) ~= "table" then return nil end
    for _, t in ipairs(list) do
      if not pick or pick(t) then
        rt.targets = list
        return t
      end
    end
  end)
end

local function wait_http(rt)
  wait_until(rt, "HTTP answer from " .. rt.http .. "/", function()
    local _, status = M.http_get(rt.http .. "/", 2)
    return status == 200
  end)
end

local function mktemp_dir()
  local d = sh("mktemp -d -t memdbg-rt.XXXXXX"):match("^%s*(.-)%s*$")
  assert(d ~= "", "mktemp -d failed")
  return d
end

local function copy_file(from, to)
  local f = assert(io.open(from, "rb"))
  local s = f:read("*a")
  f:close()
  local g = assert(io.open(to, "wb"))
  g:write(s)
  g:close()
end

-- Launchers --------------------------------------------------------------------

local launch = {}

-- node --inspect=127.0.0.1:0 spec/apps/node/app.js MODE (opts.script: another app
-- that prints the same ready line)
function launch.node(rt, opts)
  local argv = { M.binary("node"), "--inspect=127.0.0.1:0" }
  for _, a in ipairs(opts.runtimeArgs or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = opts.script or (M.apps .. "/node/app.js")
  argv[#argv + 1] = rt.app
  rt.handle = proc.spawn { argv = argv, env = opts.env }
  local ws, port = wait_log(rt, "Debugger listening on (ws://127%.0%.0%.1:(%d+)/[%w%-]+)")
  rt.port, rt.ws = tonumber(port), ws
  rt.endpoint = "http://127.0.0.1:" .. port
  rt.http = wait_log(rt, "memdbg%-app ready mode=%w+ http=(http://127%.0%.0%.1:%d+)")
  rt.target = wait_inspector(rt, function(t) return t.webSocketDebuggerUrl == ws end)
end

-- deno run --inspect=127.0.0.1:0 --allow-net spec/apps/deno/app.js MODE (opts.script as node's)
function launch.deno(rt, opts)
  local argv = { M.binary("deno"), "run", "--inspect=127.0.0.1:0", "--allow-net" }
  for _, a in ipairs(opts.runtimeArgs or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = opts.script or (M.apps .. "/deno/app.js")
  argv[#argv + 1] = rt.app
  local env = { DENO_NO_UPDATE_CHECK = "1", DENO_NO_PROMPT = "1" }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  rt.handle = proc.spawn { argv = argv, env = env }
  local ws, port = wait_log(rt, "Debugger listening on (ws://127%.0%.0%.1:(%d+)/[%w%-]+)")
  rt.port, rt.ws = tonumber(port), ws
  rt.endpoint = "http://127.0.0.1:" .. port
  rt.http = wait_log(rt, "memdbg%-app ready mode=%w+ http=(http://127%.0%.0%.1:%d+)")
  rt.target = wait_inspector(rt, function(t) return t.webSocketDebuggerUrl == ws end)
end

-- bun --inspect=127.0.0.1:0/memdbg spec/apps/bun/app.js MODE
-- Bun prints the real port in its banner; it has no /json/list (404) but
-- answers /json/version. endpoint stays nil: there is no CDP discovery.
function launch.bun(rt, opts)
  local path = opts.path or "memdbg"
  local argv = { M.binary("bun"), "--inspect=127.0.0.1:0/" .. path }
  for _, a in ipairs(opts.runtimeArgs or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = M.apps .. "/bun/app.js"
  argv[#argv + 1] = rt.app
  rt.handle = proc.spawn { argv = argv, env = opts.env }
  local ws, port = wait_log(rt, "Listening:%s+(ws://127%.0%.0%.1:(%d+)/" .. path:gsub("%p", "%%%0") .. ")")
  rt.port, rt.ws = tonumber(port), ws
  rt.http = wait_log(rt, "memdbg%-app ready mode=%w+ http=(http://127%.0%.0%.1:%d+)")
  rt.version = wait_until(rt, "answer from http://127.0.0.1:" .. port .. "/json/version", function()
    return get_json("http://127.0.0.1:" .. port .. "/json/version")
  end)
end

-- chromium --headless ... --remote-debugging-port=0 file://.../app.html?mode=MODE
M.chromium_flags = {
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
}
function launch.chromium(rt, opts)
  rt.tmpdir = mktemp_dir()
  -- opts.url/opts.title: another page (spec/apps/leaks/dom.html) and the title it sets once loaded
  local url = opts.url or ("file://" .. M.apps .. "/chromium/app.html?mode=" .. rt.app)
  local argv = { M.binary("chromium") }
  for _, f in ipairs(M.chromium_flags) do argv[#argv + 1] = f end
  argv[#argv + 1] = "--user-data-dir=" .. rt.tmpdir
  argv[#argv + 1] = "--remote-debugging-address=127.0.0.1"
  argv[#argv + 1] = "--remote-debugging-port=0"
  argv[#argv + 1] = "--js-flags=--expose-gc"
  for _, a in ipairs(opts.runtimeArgs or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = url
  -- Debian's chromium keeps crashpad's "Crash Reports" under
  -- $XDG_CONFIG_HOME/chromium whatever --user-data-dir says: keep them in TMP.
  local env = { XDG_CONFIG_HOME = rt.tmpdir .. "/config" }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  rt.handle = proc.spawn { argv = argv, env = env }
  -- DevToolsActivePort: the port, then the browser websocket path.
  local port, path = wait_until(rt, "DevToolsActivePort in " .. rt.tmpdir, function()
    local f = io.open(rt.tmpdir .. "/DevToolsActivePort")
    if not f then return nil end
    local s = f:read("*a")
    f:close()
    return s:match("^(%d+)\n(/devtools/browser/%S+)")
  end)
  rt.port = tonumber(port)
  rt.endpoint = "http://127.0.0.1:" .. port
  rt.browserWs = "ws://127.0.0.1:" .. port .. path
  -- The page target, once the app has loaded (its title names the mode).
  rt.target = wait_inspector(rt, function(t)
    if opts.url then return t.type == "page" and t.title == opts.title end
    return t.type == "page" and t.url:find("/chromium/app.html", 1, true) and t.title == "memdbg app: " .. rt.app
  end)
  rt.ws = rt.target.webSocketDebuggerUrl
end

-- wrangler dev (offline) in a temp copy of spec/apps/worker
function launch.wrangler(rt, opts)
  rt.tmpdir = mktemp_dir()
  local app = rt.tmpdir .. "/app"
  os.execute("mkdir -p " .. q(app) .. " " .. q(rt.tmpdir .. "/config"))
  copy_file(M.apps .. "/worker/worker.js", app .. "/worker.js")
  copy_file(M.apps .. "/worker/wrangler.toml", app .. "/wrangler.toml")
  rt.port = opts.inspectorPort or M.free_ports(1)
  local argv = { "env", "-u", "CLOUDFLARE_API_TOKEN", "-u", "CLOUDFLARE_ACCOUNT_ID",
    M.binary("node"), M.binary("wrangler"), "dev", "--ip", "127.0.0.1", "--port", "0",
    "--inspector-port", tostring(rt.port), "--var", "MODE:" .. rt.app }
  for _, a in ipairs(opts.runtimeArgs or {}) do argv[#argv + 1] = a end
  local env = { WRANGLER_SEND_METRICS = "false", CI = "true", WRANGLER_LOG_PATH = rt.tmpdir .. "/logs",
    XDG_CONFIG_HOME = rt.tmpdir .. "/config" }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  rt.handle = proc.spawn { argv = argv, env = env, cwd = app }
  rt.http = wait_log(rt, "Ready on (http://127%.0%.0%.1:%d+)")
  rt.endpoint = "http://127.0.0.1:" .. rt.port
  rt.target = wait_inspector(rt)
  rt.ws = rt.target.webSocketDebuggerUrl
  wait_http(rt)
end

-- workerd serve spec/apps/worker/config.capnp, in place (MODE from MEMDBG_MODE)
function launch.workerd(rt, opts)
  local iport, hport = M.free_ports(2)
  rt.port = iport
  local argv = { M.binary("workerd"), "serve", "config.capnp",
    "--socket-addr", "http=127.0.0.1:" .. hport, "--inspector-addr=127.0.0.1:" .. iport }
  for _, a in ipairs(opts.runtimeArgs or {}) do argv[#argv + 1] = a end
  local env = { MEMDBG_MODE = rt.app }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  rt.handle = proc.spawn { argv = argv, env = env, cwd = M.apps .. "/worker" }
  rt.endpoint = "http://127.0.0.1:" .. iport
  rt.http = "http://127.0.0.1:" .. hport
  rt.target = wait_inspector(rt, function(t) return t.id == "memdbg-app" end)
  rt.ws = rt.target.webSocketDebuggerUrl
  wait_http(rt)
end

--- start(kind, {app = "leaky"|"clean"|"idle"|"detached", timeout = 30, script = FILE (node, deno),
---   env = {...}, runtimeArgs = {...}}) -> rt
--- rt.kind, rt.app, rt.pid, rt.port (inspector), rt.endpoint ("http://127.0.0.1:PORT",
--- nil for bun), rt.ws, rt.http (the app's own HTTP; nil for chromium),
--- rt.version / rt.target (decoded /json/version and the chosen /json/list entry),
--- rt.browserWs (chromium), rt.startup (seconds), rt.log (output file).
function M.start(kind, opts)
  opts = opts or {}
  if not launch[kind] then error("unknown runtime kind " .. tostring(kind), 2) end
  local ok, why = M.available(kind)
  if not ok then error(kind .. " not installed: " .. why, 2) end
  local app = opts.app or "idle"
  if not APPS[kind][app] and not (kind == "chromium" and opts.url) and not opts.script then
    error(kind .. " has no app mode " .. tostring(app), 2)
  end
  local t0 = now()
  local rt = { kind = kind, app = app, timeout = opts.timeout or 30 }
  rt.deadline = t0 + rt.timeout
  local okl, err = pcall(launch[kind], rt, opts)
  if not okl then
    if rt.handle and not rt.handle.stopped then M.stop(rt) end
    error(err, 0)
  end
  rt.pid = rt.handle.pid
  rt.log = rt.handle.log
  rt.startup = now() - t0
  return rt
end

--- The runtime's output so far.
function M.output(rt)
  return rt.handle and proc.output(rt.handle) or ""
end

--- HTTP GET to the app (rt.http .. path): body, status.
function M.request(rt, path, timeout)
  if not rt.http then error(rt.kind .. " app serves no HTTP: evaluate handleRequests(n) in the target", 2) end
  return M.http_get(rt.http .. (path or "/"), timeout or 10)
end

--- PIDs of processes the runtime left: in its session (spawned with setsid)
--- or naming its temp dir (chromium's crashpad handler starts its own session).
function M.leftovers(rt)
  local pids = {}
  if not rt.handle then return pids end
  local out = sh("ps -e -o pid=,sid=,stat=,args= 2>/dev/null")
  for line in out:gmatch("[^\n]+") do
    local pid, sid, stat, args = line:match("^%s*(%d+)%s+(%d+)%s+(%S+)%s+(.*)$")
    pid, sid = tonumber(pid), tonumber(sid)
    if pid and not stat:find("Z") and (sid == rt.handle.pid or (rt.tmpdir and args:find(rt.tmpdir, 1, true))) then
      pids[#pids + 1] = pid
    end
  end
  return pids
end

--- Stops the runtime: its whole process group, any stragglers, its temp dir.
function M.stop(rt)
  if not rt or rt.stopped then return end
  rt.stopped = true
  if rt.handle and not rt.handle.stopped then
    -- TERM to the process group (dash's kill takes `-PGID`, not `-- -PGID`),
    -- then wait for the whole session, then KILL whatever is left.
    local pid = rt.handle.pid
    os.execute(string.format("kill -TERM -%d 2>/dev/null; kill -TERM %d 2>/dev/null", pid, pid))
    local deadline = now() + (rt.stopTimeout or 5)
    while now() < deadline do
      if not proc.alive(rt.handle) and #M.leftovers(rt) == 0 then break end
      proc.sleep(0.05)
    end
    for _ = 1, 40 do
      local left = M.leftovers(rt)
      if proc.alive(rt.handle) then left[#left + 1] = pid end
      if #left == 0 then break end
      os.execute(string.format("kill -KILL -%d 2>/dev/null; kill -KILL %s 2>/dev/null", pid, table.concat(left, " ")))
      proc.sleep(0.05)
    end
    proc.stop(rt.handle) -- bookkeeping: marks it stopped, removes the log
  end
  if rt.tmpdir and rt.tmpdir:match("/memdbg%-rt%.[%w]+$") then
    os.execute("rm -rf " .. q(rt.tmpdir))
  end
end

--- Whether the runtime's main process is still running.
function M.alive(rt)
  return rt.handle ~= nil and proc.alive(rt.handle)
end

return M
