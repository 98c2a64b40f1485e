-- The leak-pattern apps of spec/apps/leaks/ (see its README) for the specs:
-- start one on a runtime, hunt it with `memdbg leaks` as a user would, and
-- what each pattern must report: the leaked class first, its holder, and its
-- constructor's line in the pattern's file.
local json = require("cjson")
local assert = require("luassert")
local proc = require("support.proc")
local runtimes = require("support.runtimes")
local shared = require("support.cli")

local M = {}

M.dir = runtimes.apps .. "/leaks"

-- holder: a Lua pattern for holder.class, or a function(holder) -> ok, why
local function path_has(text)
  return function(h)
    return table.concat(h.retainerPath, " → "):find(text, 1, true) ~= nil,
      "holder path without " .. text
  end
end

M.patterns = {
  array = { class = "Order", holder = { node = "^Array$", deno = "^Array$" } },
  map = { class = "CachedPage", holder = { node = "^Map$", deno = "^Map$" } },
  set = { class = "Session", holder = { node = "^Set$", deno = "^Set$" } },
  timers = { class = "JobContext", holder = { node = "^TimersList$", deno = "^Map$" } },
  closures = { class = "Report", holder = { node = "^system / Context", deno = "^system / Context" } },
  emitter = { class = "Subscriber", holder = { node = path_has("_events"), deno = path_has("_events") } },
  eventtarget = { class = "Widget", holder = { node = path_has("kEvents"), deno = "^Array$" } },
  fibers = { class = "Poller", holder = { node = "^TimersList$", deno = "^Map$" } },
}
M.order = { "array", "map", "set", "timers", "closures", "emitter", "eventtarget", "fibers" }

--- The line of the constructor of `class` in spec/apps/leaks/FILE (1-based).
function M.constructor_line(file, class)
  local n, in_class = 0, false
  for line in io.lines(M.dir .. "/" .. file) do
    n = n + 1
    if line:match("^class " .. class .. "[%s{]") then in_class = true end
    if in_class and line:match("^%s+constructor%(") then return n end
  end
  error("no constructor of " .. class .. " in " .. file)
end

--- start(runtime, pattern, mode) -> handle {pid, endpoint, http}
function M.start(runtime, pattern, mode)
  local argv
  if runtime == "node" then
    argv = { runtimes.binary("node"), "--inspect=127.0.0.1:0", M.dir .. "/app.mjs", pattern, mode }
  elseif runtime == "bun" then
    -- Bun has no /json/list: memdbg connects by the ws:// URL its banner prints
    argv = { runtimes.binary("bun"), "--inspect=127.0.0.1:0/memdbg", M.dir .. "/app.mjs", pattern, mode }
    local h = proc.spawn { argv = argv, cwd = runtimes.root }
    h.endpoint = proc.wait_for(h, "Listening:%s+(ws://127%.0%.0%.1:%d+/memdbg)", 30)
    h.http = proc.wait_for(h, "memdbg%-leak%-app ready pattern=%w+ mode=%w+ http=(http://127%.0%.0%.1:%d+)", 30)
    return h
  else
    argv = { runtimes.binary("deno"), "run", "--inspect=127.0.0.1:0", "--allow-net", M.dir .. "/app.mjs", pattern,
      mode }
  end
  local h = proc.spawn { argv = argv, cwd = runtimes.root,
    env = runtime == "deno" and { DENO_NO_UPDATE_CHECK = "1", DENO_NO_PROMPT = "1" } or nil }
  local _, port = proc.wait_for(h, "Debugger listening on (ws://127%.0%.0%.1:(%d+)/[%w%-]+)", 30)
  h.endpoint = "http://127.0.0.1:" .. port
  h.http = proc.wait_for(h, "memdbg%-leak%-app ready pattern=%w+ mode=%w+ http=(http://127%.0%.0%.1:%d+)", 30)
  return h
end

M.stop = proc.stop

--- `memdbg leaks --json --action 'handleRequests(N)'` on the app: the report, and the CLI's text on failure
function M.hunt(h, n, ...)
  local code, out, err = shared.memdbg("leaks", "--endpoint", h.endpoint, "--action",
    string.format("handleRequests(%d)", n or 200), "--json", ...)
  assert(code == 0 or code == 1, "memdbg leaks exited " .. tostring(code) .. ": " .. err)
  local doc = json.decode(out)
  for _, p in ipairs(doc.snapshots) do os.remove(p) end
  if doc.snapshots[1] then os.remove((doc.snapshots[1]:match("^(.*)/[^/]+$"))) end
  return doc, code
end

--- A short text of the groups, for failure messages.
function M.describe(doc)
  local t = {}
  for i, g in ipairs(doc.leaks) do
    if i > 6 then break end
    t[#t + 1] = string.format("%d. %s x%d held by %s", i, g.class, g.count, g.holder and g.holder.class or "?")
  end
  return table.concat(t, "\n")
end

--- Checks a leaky pattern's report: the class first, its holder, its constructor's line.
function M.check_leaky(runtime, pattern, doc)
  local want = M.patterns[pattern]
  local first = doc.leaks[1]
  assert(first, "no leak group for the " .. pattern .. " pattern")
  assert.equal(want.class, first.class, M.describe(doc))
  assert.equal(200, first.count, M.describe(doc))
  assert.same({ 200, 200 }, first.growth)
  local holder = want.holder[runtime]
  if type(holder) == "function" then
    local ok, why = holder(first.holder)
    assert(ok, why .. ":\n" .. table.concat(first.holder.retainerPath, "\n"))
  else
    assert.matches(holder, first.holder.class, 1)
  end
  assert.equal(3, #first.holder.edges)
  assert.is_table(first.location, "no location for " .. first.class)
  assert.matches("/spec/apps/leaks/" .. pattern .. "%.mjs$", first.location.url)
  assert.equal(M.constructor_line(pattern .. ".mjs", want.class), first.location.line)
end

--- Checks a correct twin's report: no group of 100 objects or more.
function M.check_correct(doc)
  for _, g in ipairs(doc.leaks) do
    assert(g.count < 100, "a correct twin reports " .. g.count .. " " .. g.class .. ":\n" .. M.describe(doc))
  end
end

return M
