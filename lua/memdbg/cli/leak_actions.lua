-- The options `memdbg leaks` takes for its action, the CI gate and the
-- sampling hunt: --action / --action-cmd / --action-http (with --requests,
-- --concurrency, --method, --data) / --duration, --action-timeout, --ignore,
-- --max-growth, --sampling, --sampling-interval, --no-gc. Turns them into the
-- workflow's options (workflows/actions.lua, leak_gate.lua, sampling_leak.lua).
local args = require("memdbg.cli.args")
local actions = require("memdbg.workflows.actions")

local M = {}

M.options = {
  action = "string", ["action-cmd"] = "string", ["action-http"] = "string",
  requests = "number", concurrency = "number", method = "string", data = "string",
  duration = "number", ["action-timeout"] = { "number", actions.DEFAULT_TIMEOUT },
  ignore = "string", ["max-growth"] = "number",
  sampling = "flag", ["sampling-interval"] = "number", ["no-gc"] = "flag",
}

M.help = [[
Actions (give one):
  --action EXPR        JavaScript evaluated in the target, awaiting a promise
  --action-cmd CMD     a shell command run with `sh -c` (a curl loop, an e2e suite);
                       its output goes to stderr; a non-zero exit fails the hunt (exit 2)
  --action-http URL    memdbg sends the requests itself over keep-alive connections:
    --requests N       requests per action (default 100)
    --concurrency C    connections at once (default 8)
    --method M         HTTP method (default GET, POST with --data)
    --data TEXT        request body (JSON when it starts with { or [, else form-encoded)
                       the URL must be loopback unless --allow-remote
  --duration S         no action: let the app run S seconds (with its real traffic)
  --action-timeout S   fail when one action takes longer (default 300)
CI gate:
  --ignore FILE        known leaks: a previous `leaks --json` output, or signatures one a
                       line (# comments); matching groups are marked "ignored" and do not
                       count: exit 1 only for new leaks
  --max-growth N       let through groups that grew by fewer than N objects per action
Sampling hunt (no snapshots, for production):
  --sampling           rank allocation sites whose live sampled bytes grew after each
                       action (V8's sampling heap profiler)
  --sampling-interval B  bytes between samples (default 32768)
  --no-gc              force no garbage collection (the profile then counts garbage too)
                       (no snapshot: --dir, --keep, --gc-rounds, --timeout, --track-allocations,
                       --ignore and --max-growth are refused with --sampling)
]]

local function int_at_least(opts, name, min)
  local v = opts[name]
  if v ~= nil and (v ~= math.floor(v) or v < min or v >= 2 ^ 31) then
    args.usage_error(string.format("--%s takes a whole number of at least %d, not %s", name, min, tostring(v)))
  end
end

--- check(opts): usage errors (exit 2) for contradictory or bad options.
function M.check(opts)
  local given = {}
  for _, k in ipairs { "action", "action-cmd", "action-http", "duration" } do
    if opts[k] ~= nil then given[#given + 1] = "--" .. k end
  end
  if #given == 0 then
    args.usage_error("an action is required: --action EXPR, --action-cmd CMD, --action-http URL or --duration S")
  end
  if #given > 1 then args.usage_error("give one action, not " .. table.concat(given, " and ")) end
  if opts.action == "" then args.usage_error("--action needs an expression") end
  if opts["action-cmd"] and opts["action-cmd"]:match("^%s*$") then args.usage_error("--action-cmd needs a command") end
  if not opts["action-http"] then
    for _, k in ipairs { "requests", "concurrency", "method", "data" } do
      if opts[k] ~= nil then args.usage_error("--" .. k .. " goes with --action-http") end
    end
  end
  int_at_least(opts, "requests", 1)
  int_at_least(opts, "concurrency", 1)
  if opts.concurrency and opts.concurrency > 256 then args.usage_error("--concurrency is at most 256") end
  if opts.duration ~= nil and not (opts.duration > 0 and opts.duration < 1e6) then
    args.usage_error("--duration takes a positive number of seconds")
  end
  if not (opts["action-timeout"] > 0 and opts["action-timeout"] < 1e7) then
    args.usage_error("--action-timeout takes a positive number of seconds")
  end
  if opts["max-growth"] ~= nil and not (opts["max-growth"] >= 0 and opts["max-growth"] < 2 ^ 53) then
    args.usage_error("--max-growth takes a number of objects, 0 or more")
  end
  if opts["sampling-interval"] ~= nil then
    if not opts.sampling then args.usage_error("--sampling-interval goes with --sampling") end
    int_at_least(opts, "sampling-interval", 1)
  end
  if opts["no-gc"] and not opts.sampling then
    args.usage_error("--no-gc goes with --sampling (the snapshot hunt needs its garbage collections)")
  end
  if opts.sampling and (opts.ignore or opts["max-growth"]) then
    args.usage_error("--ignore and --max-growth gate the snapshot hunt's leak groups, not --sampling")
  end
  if opts["action-http"] then
    local _, err = actions.parse_url(opts["action-http"])
    if err then args.usage_error("--action-http: " .. err) end
    -- before actions.from, which asserts on it
    if opts.method and not opts.method:match("^%u+$") then
      args.usage_error("--method takes an HTTP method in capitals (GET, POST, ...)")
    end
    local ok, herr = actions.check_host(assert(actions.from(M.workflow(opts))))
    if not ok then args.usage_error("--action-http: " .. herr) end
  end
  if opts.ignore then
    local set, err = require("memdbg.workflows.leak_gate").load_ignore(opts.ignore)
    if not set then args.usage_error("--ignore: " .. err) end
    opts._ignoreSet = set
  end
end

--- with_options(own) -> own plus M.options (for frame.command)
function M.with_options(own)
  local o = {}
  for k, v in pairs(M.options) do o[k] = v end
  for k, v in pairs(own) do o[k] = v end
  return o
end

--- gate(report, opts) -> the number of leak groups that fail the run
function M.gate(report, opts)
  return require("memdbg.workflows.leak_gate").apply(report, { ignore = opts._ignoreSet,
    maxGrowth = opts["max-growth"] })
end

--- The lines the text report adds: what the actions did, what the gate let through.
function M.format(report, opts)
  local out = {}
  for i, r in ipairs(report.actions or {}) do
    if r.kind == "http" then
      out[#out + 1] = string.format("Action %d: %d requests in %.1f s: %s\n", i, r.requests, r.seconds,
        actions.format_statuses(r))
    elseif r.kind == "command" then
      out[#out + 1] = string.format("Action %d: the command exited 0 after %.1f s\n", i, r.seconds)
    end
  end
  local ignored, small, internal = 0, 0, 0
  for _, g in ipairs(report.leaks or {}) do
    if g.ignored then ignored = ignored + 1 end
    if g.belowMaxGrowth then small = small + 1 end
    if g.runtimeInternal then internal = internal + 1 end
  end
  if opts.ignore or opts["max-growth"] or internal > 0 then
    local why = {}
    if ignored > 0 then why[#why + 1] = string.format("%d known (in %s)", ignored, opts.ignore) end
    if small > 0 then why[#why + 1] = string.format("%d grew by fewer than %g objects per action", small,
      opts["max-growth"]) end
    if internal > 0 then why[#why + 1] = string.format("%d runtime-internal", internal) end
    out[#out + 1] = string.format("New leaks: %d%s\n", report.newLeaks or 0,
      #why > 0 and (" (not counted: " .. table.concat(why, ", ") .. ")") or "")
  end
  return table.concat(out)
end

--- `memdbg leaks --sampling`: the hunt without snapshots; exit 1 when a site
--- grew beyond sampling noise after both actions.
function M.run_sampling(session, opts)
  local frame = require("memdbg.cli.frame")
  local sampling_leak = require("memdbg.workflows.sampling_leak")
  local w = M.workflow(opts)
  w.onStep = frame.steps()
  local report, err, code = sampling_leak.run(session, w)
  if not report then return nil, err, code end
  if opts.json then
    frame.print_json(sampling_leak.to_json(report)) -- every site, as the snapshot hunt's --json gives every group
  else
    io.write(sampling_leak.format(report, opts.top))
    io.write(M.format(report, opts))
  end
  return sampling_leak.found(report) > 0 and 1 or 0
end

--- workflow(opts) -> the action options of detect_leak.run / sampling_leak.run
function M.workflow(opts)
  local w = {
    action = opts.action, actionCommand = opts["action-cmd"], duration = opts.duration,
    actionTimeout = opts["action-timeout"], allowRemote = opts["allow-remote"],
    sampling = opts.sampling, samplingInterval = opts["sampling-interval"], noGC = opts["no-gc"],
  }
  if opts["action-http"] then
    w.actionHttp = { url = opts["action-http"], requests = opts.requests, concurrency = opts.concurrency,
      method = opts.method, body = opts.data }
  end
  return w
end

return M
