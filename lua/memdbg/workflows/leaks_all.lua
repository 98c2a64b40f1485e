-- The leak hunt on every isolate around one action (`memdbg leaks --all`):
-- the main thread or page and each worker and out-of-process iframe under
-- it each get their own hunt (workflows/detect_leak.lua, or sampling_leak.lua
-- with sampling = true), run unchanged in a coroutine per isolate. Each hunt's
-- action is a barrier: once every hunt has reached it (each has taken its
-- baseline), the real action runs once, in the main session, and every hunt
-- goes on to its next snapshot. Then each is analysed on its own.
--   local leaks_all = require "memdbg.workflows.leaks_all"
--   local report, err, code = leaks_all.run(session, { action = "send(100)", dir = "out" })
--   -- report = {actions = {r1, r2}, note = , isolates = {
--   --   {id, type, title, url, report = <detect_leak report>} | {..., error = msg, code = code}, ...}}
local actions = require("memdbg.workflows.actions")
local files = require("memdbg.util.files")
local json = require("memdbg.util.json")
local isolates = require("memdbg.transport.isolates")

local leaks_all = {}

local unpack = table.unpack or unpack -- luacheck: ignore 113
local function pack(...) return { n = select("#", ...), ... } end

local BARRIER = {} -- what a hunt yields at its action

-- A directory name for an isolate: main, worker-1, iframe-89FE1A7B.
function leaks_all.label(iso)
  if iso.main then return "main" end
  return (tostring(iso.type):gsub("[^%w]", "_") .. "-" .. tostring(iso.id):gsub("[^%w%-]", "_"):sub(1, 8))
end

-- Resumes a hunt until it reaches the barrier or ends. A yield that is not
-- the barrier comes from below (an editor's waiter yields its driver's
-- coroutine): it is passed up, and the answer passed back down.
local function advance(h, ...)
  local args = pack(...)
  while true do
    local r = pack(coroutine.resume(h.co, unpack(args, 1, args.n)))
    if not r[1] then error(r[2], 0) end -- Ctrl-C or a bug: not the isolate's failure
    if coroutine.status(h.co) == "dead" then
      h.state, h.result = "done", pack(unpack(r, 2, r.n))
      return
    end
    if r[2] == BARRIER then
      h.state = "barrier"
      return
    end
    args = pack(coroutine.yield(unpack(r, 2, r.n)))
  end
end

--- run(session, opts) -> report | nil, message, code
--- opts as detect_leak.run's (or sampling_leak.run's with sampling = true);
--- opts.dir holds one directory per isolate (leaks_all.label); onStep is
--- called as onStep(what, detail, isolate).
function leaks_all.run(session, opts)
  opts = opts or {}
  local act, aerr = actions.from(opts)
  if not act then error("leaks_all.run: " .. aerr, 2) end
  local workflow = require(opts.sampling and "memdbg.workflows.sampling_leak" or "memdbg.workflows.detect_leak")
  local list, note, lcode = isolates.list(session)
  if not list then return nil, note, lcode end
  if opts.dir then
    local ok, err, code = files.mkdir(opts.dir)
    if not ok then return nil, err, code end
  end
  -- what evaluating an expression creates once belongs in the main baseline
  if act.kind == "expression" then session.memory:evaluate("void 0", { awaitPromise = true }) end
  local hunts = {}
  for _, iso in ipairs(list) do
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.actionCommand, o.actionHttp, o.duration, o.sampling = nil, nil, nil, nil
    o.action = function()
      local ok, err = coroutine.yield(BARRIER)
      if not ok then error(err, 0) end
      return true
    end
    o.dir = opts.dir and (opts.dir .. "/" .. leaks_all.label(iso)) or nil
    if opts.onStep then o.onStep = function(what, detail) opts.onStep(what, detail, iso) end end
    local h = { iso = iso, state = "start" }
    h.co = coroutine.create(function() return workflow.run(iso.session, o) end)
    hunts[#hunts + 1] = h
  end
  local report = { isolates = json.array(), actions = json.array(), note = note }
  local failure
  for _, h in ipairs(hunts) do advance(h) end
  for round = 1, 2 do
    local waiting = {}
    for _, h in ipairs(hunts) do if h.state == "barrier" then waiting[#waiting + 1] = h end end
    if #waiting == 0 then break end
    if opts.onStep then opts.onStep("action", round, list[1]) end
    local done, err, code
    if failure then
      err = failure[1]
    else
      done, err, code = actions.run(session, act, { timeout = opts.actionTimeout, traffic = opts.traffic })
      if done then report.actions[round] = done else failure = { err, code } end
    end
    for _, h in ipairs(waiting) do advance(h, done ~= nil, err) end
  end
  for _, h in ipairs(hunts) do
    local r, iso = h.result or {}, h.iso
    local entry = { id = iso.id, type = iso.type, title = iso.title, url = iso.url, main = iso.main }
    if r[1] then
      entry.report = r[1]
    else
      entry.error, entry.code = r[2], r[3]
      entry.partial = r[4]
    end
    report.isolates[#report.isolates + 1] = entry
  end
  -- the action itself failed: the whole hunt did (each isolate's partial is in report)
  if failure then return nil, failure[1], failure[2], report end
  return report
end

return leaks_all
