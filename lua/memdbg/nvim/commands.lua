-- luacheck: globals vim
-- The user commands (plugin/memdbg.lua calls define()). Arguments read like
-- the CLI's: `--name value` options anywhere, the rest positional. Values of
-- expression options (a JavaScript expression, a shell command, a request
-- body) run to the next known option, so they need no quoting; other values
-- are one word. Every command completes its options, files and values.
local config = require("memdbg.nvim.config")

local M = {}

-- kinds: "word" (one word), "text" (to the next option), "flag", "file", and
-- numbers checked here as the CLI checks them (NUMBERS)
local CONNECT = { endpoint = "word", target = "word", ["allow-remote"] = "flag" }
local ACTION = { action = "text", ["action-cmd"] = "text", ["action-http"] = "word", requests = "count1",
  concurrency = "count1", method = "word", data = "text", ["action-timeout"] = "seconds", duration = "seconds" }

-- kind -> { test(n), what it takes }
local NUMBERS = {
  count = { function(n) return n >= 0 and n == math.floor(n) end, "a whole number, 0 or more" },
  count1 = { function(n) return n >= 1 and n == math.floor(n) end, "a whole number of at least 1" },
  amount = { function(n) return n >= 0 end, "a number, 0 or more" },
  seconds = { function(n) return n > 0 end, "a positive number of seconds" },
  percent = { function(n) return n > 0 and n <= 100 end, "a percentage in (0, 100]" },
}
M.NUMBERS = NUMBERS

local function with(...)
  local t = {}
  for _, s in ipairs({ ... }) do for k, v in pairs(s) do t[k] = v end end
  return t
end

--- parse(text, spec) -> opts, positional text | nil, error message
function M.parse(text, spec)
  local opts, pos = {}, {}
  -- split at " --name" where name is a known option
  local marks = {}
  local i = 1
  while true do
    local s, e, name, eq = text:find("%-%-([%w%-]+)(=?)", i)
    if not s then break end
    if (s == 1 or text:sub(s - 1, s - 1):match("%s")) and spec[name] then
      marks[#marks + 1] = { s = s, e = e, name = name, eq = eq }
    end
    i = e + 1
  end
  local function seg(a, b) return vim.trim(text:sub(a, b)) end
  pos[#pos + 1] = seg(1, (marks[1] and marks[1].s or #text + 1) - 1)
  for k, m in ipairs(marks) do
    local value = seg(m.e + 1, (marks[k + 1] and marks[k + 1].s or #text + 1) - 1)
    local kind = spec[m.name]
    if kind == "flag" then
      opts[m.name] = true
      pos[#pos + 1] = value
    elseif kind == "text" then
      if value == "" then return nil, "--" .. m.name .. " needs a value" end
      opts[m.name] = value
    else
      local word, rest = value:match("^(%S+)%s*(.*)$")
      if not word then return nil, "--" .. m.name .. " needs a value" end
      local rule = NUMBERS[kind]
      if rule then
        local n = tonumber(word)
        if not n or n ~= n or not rule[1](n) or n >= 2 ^ 53 then
          return nil, "--" .. m.name .. " takes " .. rule[2] .. ", not " .. word
        end
        word = n
      end
      opts[m.name] = word
      pos[#pos + 1] = rest
    end
  end
  local rest = {}
  for _, p in ipairs(pos) do if p ~= "" then rest[#rest + 1] = p end end
  return opts, table.concat(rest, " ")
end

-- Words of positional text; a backslash keeps a space in a file name.
local function words(text)
  local out = {}
  for w in (text:gsub("\\ ", "\1")):gmatch("%S+") do out[#out + 1] = (w:gsub("\1", " ")) end
  return out
end

local function connection(o)
  return { endpoint = o.endpoint, target = o.target, allowRemote = o["allow-remote"] or nil }
end

-- The action options of a leak hunt, sampling or tracking: one action (the
-- CLI's rules and words), the request options only with --action-http.
local function action_of(o, positional, into)
  local given = {}
  if positional and positional ~= "" then given[1] = "an expression (" .. positional .. ")" end
  for _, k in ipairs({ "action", "action-cmd", "action-http", "duration" }) do
    if o[k] then given[#given + 1] = "--" .. k end
  end
  if #given > 1 then error("give one action, not " .. table.concat(given, " and "), 0) end
  if not o["action-http"] then
    for _, k in ipairs({ "requests", "concurrency", "method", "data" }) do
      if o[k] ~= nil then error("--" .. k .. " goes with --action-http", 0) end
    end
  end
  if o["action-http"] then
    into.actionHttp = { url = o["action-http"], requests = o.requests, concurrency = o.concurrency,
      method = o.method, body = o.data }
  elseif o["action-cmd"] then
    into.actionCommand = o["action-cmd"]
  elseif o.duration then
    into.duration = o.duration
  elseif o.action or (positional and positional ~= "") then
    into.action = o.action or positional
  end
  into.actionTimeout = o["action-timeout"]
  return into
end

local function err(msg) vim.notify("memdbg: " .. msg, vim.log.levels.ERROR) end

local function file_arg(w, who)
  if not w or w == "" then return nil, who .. " needs a snapshot file" end
  local p = vim.fn.fnamemodify(vim.fn.expand(w), ":p")
  if vim.fn.filereadable(p) ~= 1 then return nil, "no such file: " .. w end
  return p
end

local ui = function() return require("memdbg.nvim.ui") end

M.commands = {}

local function command(name, spec, nargs, desc, fn, complete_positional, bang)
  M.commands[name] = { spec = spec, complete = complete_positional }
  vim.api.nvim_create_user_command(name, function(c)
    local o, rest = M.parse(c.args, spec)
    if not o then return err(name .. ": " .. rest) end
    local ok, e = pcall(fn, o, rest, c)
    if not ok then err(name .. ": " .. tostring(e):gsub("^[^:]*:%d+: ", "")) end
  end, { nargs = nargs, desc = desc, bang = bang or nil,
    complete = nargs ~= 0 and function(lead, line, pos) return M.complete(name, lead, line, pos) end or nil })
end

-- An output file named by the user: as :write does, an existing file is
-- replaced only with ! (then atomically, docs/files.md); without it the
-- operation is also asked not to clobber (checked again when the file is linked in).
local function out_file(w, c)
  local p = vim.fn.fnamemodify(vim.fn.expand(w), ":p")
  if not c.bang and (vim.uv or vim.loop).fs_lstat(p) then error(p .. " exists (add ! to replace it)", 0) end
  return p, not c.bang, c.bang -- FILE! is --force: any regular file, never a link, directory or device
end

local function seconds(rest)
  local w = words(rest)
  if #w > 1 then error("takes one number of seconds, not " .. rest, 0) end
  local n = w[1] and tonumber(w[1])
  if w[1] and not (n and n > 0 and n < 1e9) then error("takes a positive number of seconds, not " .. w[1], 0) end
  return w[1] and tonumber(w[1]) or nil
end

function M.define()
  command("MemdbgUsage", CONNECT, "*", "memdbg: heap usage", function(o, rest)
    if rest ~= "" then error("unexpected argument " .. rest, 0) end
    ui().usage(connection(o))
  end)

  command("MemdbgSnapshot", with(CONNECT, { gc = "flag" }), "*", "memdbg: stream a heap snapshot to FILE",
    function(o, rest, c)
      local w = words(rest)
      if #w > 1 then error("takes one FILE", 0) end
      local opts = connection(o)
      opts.gc = o.gc
      if w[1] then opts.path, opts.noClobber, opts.force = out_file(w[1], c) end
      ui().snapshot(opts)
    end, "file", true)

  command("MemdbgLeaks", with(CONNECT, ACTION, { top = "count", ["gc-rounds"] = "count1", dir = "file",
    ["track-allocations"] = "flag", sampling = "flag", ["sampling-interval"] = "count1", ["no-gc"] = "flag",
    ignore = "file", ["max-growth"] = "amount" }), "+",
    "memdbg: leak hunt around an action (JS expression, --action-cmd, --action-http)", function(o, rest)
      local opts = action_of(o, rest, connection(o))
      opts.top, opts.gcRounds, opts.trackAllocations = o.top, o["gc-rounds"], o["track-allocations"]
      opts.sampling, opts.samplingInterval, opts.noGC = o.sampling, o["sampling-interval"], o["no-gc"]
      opts.dir = o.dir and vim.fn.fnamemodify(vim.fn.expand(o.dir), ":p") or nil
      opts.ignore = o.ignore and vim.fn.fnamemodify(vim.fn.expand(o.ignore), ":p") or nil
      opts.maxGrowth = o["max-growth"]
      -- the CLI's rules and words for the gate's options
      if o.sampling and (o.ignore or o["max-growth"]) then
        error("--ignore and --max-growth gate the snapshot hunt's leak groups, not --sampling", 0)
      end
      if opts.ignore then
        local ok, ierr = require("memdbg.nvim.ops").read_ignore(opts.ignore)
        if not ok then error("--ignore: " .. ierr, 0) end
      end
      if not (opts.action or opts.actionCommand or opts.actionHttp or opts.duration) then
        error("give the action: a JavaScript expression, --action-cmd CMD, --action-http URL or --duration S", 0)
      end
      ui().leaks(opts)
    end)

  command("MemdbgSample", with(CONNECT, ACTION, { interval = "count1", top = "count" }), "*",
    "memdbg: sampling heap profiler for SECONDS or around an action", function(o, rest)
      local opts = connection(o)
      opts.seconds = seconds(rest)
      if o.action or o["action-cmd"] or o["action-http"] then
        if opts.seconds or o.duration then error("give SECONDS or an action, not both", 0) end
        action_of(o, nil, opts)
      elseif o.duration then
        if opts.seconds then error("give SECONDS or --duration, not both", 0) end
        opts.seconds = o.duration
      end
      opts.interval, opts.top = o.interval, o.top
      ui().sample(opts)
    end, { "5", "10", "30", "60" })

  command("MemdbgTrack", with(CONNECT, ACTION, { top = "count", out = "file" }), "*",
    "memdbg: allocation tracking for SECONDS or around an action", function(o, rest, c)
      local opts = connection(o)
      opts.seconds = seconds(rest)
      if o.action or o["action-cmd"] or o["action-http"] then
        if opts.seconds or o.duration then error("give SECONDS or an action, not both", 0) end
        action_of(o, nil, opts)
      elseif o.duration then
        if opts.seconds then error("give SECONDS or --duration, not both", 0) end
        opts.seconds = o.duration
      end
      opts.top = o.top
      if o.out then opts.path, opts.noClobber, opts.force = out_file(o.out, c) end
      ui().track(opts)
    end, { "5", "10", "30", "60" }, true)

  command("MemdbgVerify", with(CONNECT, { allocate = "text", cleanup = "text", tolerance = "amount",
    ["gc-rounds"] = "count1" }), "+", "memdbg: is what --allocate EXPR added released after --cleanup EXPR?",
    function(o, rest)
      if rest ~= "" then error("unexpected argument " .. rest .. " (give --allocate EXPR --cleanup EXPR)", 0) end
      if not o.allocate or not o.cleanup then error("give --allocate EXPR and --cleanup EXPR", 0) end
      local opts = connection(o)
      opts.allocate, opts.cleanup, opts.gcRounds = o.allocate, o.cleanup, o["gc-rounds"]
      opts.tolerance = o.tolerance and o.tolerance / 100 or nil
      ui().verify(opts)
    end)

  command("MemdbgMonitor", with(CONNECT, { threshold = "percent" }), "*",
    "memdbg: live heap usage every INTERVAL seconds (:MemdbgMonitor stop)", function(o, rest)
      local mon = require("memdbg.nvim.monitor")
      if rest == "stop" then
        if not mon.stop() then vim.notify("memdbg: no monitor is running") end
        return
      end
      local opts = connection(o)
      opts.interval = seconds(rest)
      opts.threshold = o.threshold
      mon.start(opts)
    end, { "stop", "1", "2", "5" })

  command("MemdbgSummary", { top = "count" }, "+", "memdbg: a snapshot file by class", function(o, rest)
    local w = words(rest)
    if #w ~= 1 then error("takes one snapshot FILE", 0) end
    local file = assert(file_arg(w[1], "MemdbgSummary"))
    ui().summary({ file = file, top = o.top or config.get().files.top })
  end, "snapshot")

  command("MemdbgDiff", { top = "count" }, "+", "memdbg: what changed per class between two snapshot files",
    function(o, rest)
      local w = words(rest)
      if #w ~= 2 then error("takes two snapshot files: BASE FILE", 0) end
      local a = assert(file_arg(w[1], "MemdbgDiff"))
      local b = assert(file_arg(w[2], "MemdbgDiff"))
      ui().diff({ base = a, file = b, top = o.top or config.get().files.top })
    end, "snapshot")

  command("MemdbgTop", { n = "count" }, "+", "memdbg: largest objects by retained size in a snapshot file",
    function(o, rest)
      local w = words(rest)
      if #w ~= 1 then error("takes one snapshot FILE", 0) end
      local file = assert(file_arg(w[1], "MemdbgTop"))
      ui().top({ file = file, n = o.n or 20 })
    end, "snapshot")

  command("MemdbgRetainers", {}, "+", "memdbg: retainer path of node ID in a snapshot file", function(_, rest)
    local w = words(rest)
    local id = w[2] and tonumber((w[2]:gsub("^@", "")))
    if #w ~= 2 or not id then error("takes a snapshot FILE and a node ID", 0) end
    ui().retainers(assert(file_arg(w[1], "MemdbgRetainers")), id)
  end, "snapshot")

  command("MemdbgTarget", { ["allow-remote"] = "flag" }, "?",
    "memdbg: pick the target (and endpoint) the commands use", function(o, rest)
      local w = words(rest)
      ui().pick_target({ endpoint = w[1], allowRemote = o["allow-remote"] or nil })
    end, "endpoint")

  local KINDS = { "leaks", "sample", "track", "summary", "diff", "top", "retainers", "verify", "snapshot", "usage",
    "monitor" }
  command("MemdbgResults", {}, "?", "memdbg: show a results buffer again", function(_, rest)
    local kind = rest ~= "" and rest or nil
    if kind and not vim.tbl_contains(KINDS, kind) then
      error("no results named " .. kind .. " (" .. table.concat(KINDS, ", ") .. ")", 0)
    end
    local results = require("memdbg.nvim.results")
    for _, k in ipairs(kind and { kind } or KINDS) do
      local buf = results.bufnr(k)
      if buf then return vim.cmd("botright sbuffer " .. buf) end
    end
    vim.notify("memdbg: no results yet", vim.log.levels.WARN)
  end, KINDS)

  command("MemdbgCancel", {}, 0, "memdbg: cancel the running operations", function()
    local n = require("memdbg.nvim").cancel_all()
    require("memdbg.nvim.monitor").stop()
    vim.notify(string.format("memdbg: cancelled %d operation%s", n, n == 1 and "" or "s"))
  end)
end

------------------------------------------------------------------ completion

local function endpoints()
  local seen, out = {}, {}
  for _, e in ipairs({ vim.g.memdbg_endpoint, config.get().endpoint, "http://127.0.0.1:9229",
    "http://127.0.0.1:9222" }) do
    if type(e) == "string" and e ~= "" and not seen[e] then seen[e], out[#out + 1] = true, e end
  end
  return out
end

local function snapshot_files(lead)
  local out = {}
  for _, f in ipairs(vim.fn.getcompletion(lead, "file")) do
    if f:match("/$") or f:match("%.heapsnapshot$") or f:match("%.heaptimeline$") then out[#out + 1] = f end
  end
  return out
end

local function starting(list, lead)
  local out = {}
  for _, x in ipairs(list) do
    if x:sub(1, #lead) == lead then out[#out + 1] = x end
  end
  return out
end

--- complete(command, ArgLead, CmdLine, CursorPos) -> candidates
function M.complete(name, lead, line, pos)
  local def = M.commands[name]
  if not def then return {} end
  local before = line:sub(1, pos)
  local prev = before:sub(1, #before - #lead):match("%-%-([%w%-]+)=?%s*$")
  local kind = prev and def.spec[prev]
  if kind == "word" and prev == "endpoint" then return starting(endpoints(), lead) end
  if kind == "file" then return vim.fn.getcompletion(lead, "file") end
  if kind == "word" and prev == "method" then return starting({ "GET", "POST", "PUT", "DELETE" }, lead) end
  if kind and kind ~= "flag" then return {} end
  if lead:sub(1, 2) == "--" or (lead == "" and not def.complete) then
    local names = {}
    for k in pairs(def.spec) do names[#names + 1] = "--" .. k end
    table.sort(names)
    return starting(names, lead)
  end
  local c = def.complete
  if c == "file" then return vim.fn.getcompletion(lead, "file") end
  if c == "snapshot" then return snapshot_files(lead) end
  if c == "endpoint" then return starting(endpoints(), lead) end
  if type(c) == "table" then return starting(c, lead) end
  return {}
end

return M
