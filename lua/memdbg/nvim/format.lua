-- luacheck: globals vim
-- The text of each results buffer. Every formatter returns a view:
--   { lines = {...}, items = { [lnum] = {loc=, id=, snapshot=} }, qf = {...}, fold = level, open = lnum }
-- items carry what the buffer's mappings act on (<CR>: loc, r: id in snapshot);
-- qf the quickfix entries; group headers sit at indent 0 and their details
-- below them indented, so that foldmethod=indent gives one fold per group.
local qf = require("memdbg.nvim.qf")

local M = {}

-- sizes as the CLI prints them: KiB/MiB/GiB, "-" when missing
local fmt = require("memdbg.util.format")
local bytes, signed_bytes = fmt.bytes, fmt.signed_bytes
M.bytes = bytes

local function tbl(v) return type(v) == "table" and v or nil end -- vim.json's null is vim.NIL
local function str(v) return (type(v) == "string" or type(v) == "number") and tostring(v) or nil end

local View = {}
View.__index = View

-- located: the view's kind reports source locations, so its (possibly empty)
-- list replaces the quickfix list, never leaving another run's entries there.
local function view(title, located)
  return setmetatable({ lines = { title }, items = {}, qf = {}, fold = 99, located = located }, View)
end

function View:add(text, item)
  self.lines[#self.lines + 1] = text
  if item then self.items[#self.lines] = item end
  return #self.lines
end

function View:entry(loc, text) self.qf[#self.qf + 1] = qf.item(loc, text) end

local function short(loc)
  if not loc then return "" end
  local file = qf.file(loc.url)
  local name = file and vim.fn.fnamemodify(file, ":~:.") or tostring(loc.url)
  return string.format("%s:%d", name, loc.line)
end

-- "Foo @123" -> 123: the node id in a retainer path step's text.
local function step_id(text)
  return tonumber(tostring(text):match("@(%d+)%s*$") or tostring(text):match("@(%d+)"))
end
M.step_id = step_id

local function step_text(s)
  if type(s) == "table" then return tostring(s.text or s.name or "?"), tonumber(s.id) end
  return tostring(s), step_id(s)
end

-- A retainer path, one step a line from the GC root down, each step's id
-- under the cursor for `r`. Long chains keep their first and last steps.
local function add_path(v, path, indent, snapshot)
  local n = #path
  for j, s in ipairs(path) do
    if n > 14 and j == 7 then
      v:add(indent .. string.format("... %d more steps ...", n - 12))
    elseif n <= 14 or j < 7 or j > n - 6 then
      local text, id = step_text(s)
      v:add(indent .. (j > 1 and "→ " or "") .. text, id and { id = id, snapshot = snapshot } or nil)
    end
  end
end

function M.usage(u, endpoint)
  local v = view("Heap usage of " .. tostring(endpoint))
  v:add("")
  local keys = {}
  for k in pairs(u) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local x = u[k]
    if type(x) == "number" then
      v:add(string.format("  %-24s %14s  (%d)", k, bytes(x), x))
    elseif type(x) ~= "table" then
      v:add(string.format("  %-24s %s", k, tostring(x)))
    end
  end
  return v
end

function M.snapshot(info)
  local v = view("Heap snapshot written")
  v:add("")
  v:add("  path     " .. tostring(info.path))
  v:add("  size     " .. bytes(info.bytes) .. string.format("  (%d bytes, %d chunks)", info.bytes or 0, info.chunks or 0))
  v:add(string.format("  seconds  %.2f", info.seconds or 0))
  v:add("")
  v:add("  :MemdbgSummary " .. tostring(info.path))
  return v
end

local function group_head(i, g)
  local parts = { string.format("%d. %s  x%d  retained %s", i, tostring(g.class), tonumber(g.count) or 0,
    bytes(g.retainedSize)) }
  local growth = tbl(g.growth)
  if growth and growth[1] then
    parts[#parts + 1] = string.format("(+%s, +%s per action)", tostring(growth[1]), tostring(growth[2] or "?"))
  elseif tonumber(g.grown) then
    parts[#parts + 1] = string.format("(+%d after the second run)", g.grown)
  end
  if g.nested == true then parts[#parts + 1] = "(held inside a group above)" end
  if g.ignored == true then parts[#parts + 1] = "(known: in the ignore file)" end
  if g.belowMaxGrowth == true then parts[#parts + 1] = "(below max growth)" end
  if str(g.runtimeInternal) then parts[#parts + 1] = "(runtime-internal)" end
  return table.concat(parts, "  ")
end

-- Does the group count as a leak (workflows/leak_gate.lua)? Only these go to the quickfix list.
local function counts(g) return g.ignored ~= true and g.belowMaxGrowth ~= true and not str(g.runtimeInternal) end

-- "New leaks: 1 (not counted: 2 known (in FILE), ...)" as `memdbg leaks` says it, when something was not counted.
local function gate_line(report, leaks)
  local known, small, internal = 0, 0, 0
  for _, g in ipairs(leaks) do
    if g.ignored == true then known = known + 1 end
    if g.belowMaxGrowth == true then small = small + 1 end
    if str(g.runtimeInternal) then internal = internal + 1 end
  end
  if not (str(report.ignoreFile) or tonumber(report.maxGrowth) or internal > 0) then return nil end
  local why = {}
  if known > 0 then why[#why + 1] = string.format("%d known (in %s)", known, tostring(report.ignoreFile)) end
  if small > 0 then
    why[#why + 1] = string.format("%d grew by fewer than %g objects per action", small, report.maxGrowth)
  end
  if internal > 0 then why[#why + 1] = string.format("%d runtime-internal", internal) end
  return string.format("New leaks: %d%s", tonumber(report.newLeaks) or 0,
    #why > 0 and (" (not counted: " .. table.concat(why, ", ") .. ")") or "")
end

-- The sampling hunt's report: {mode = "sampling", samplingInterval, sites =
-- {{functionName, url, line, column, growth = {b1, b2}, liveBytes, stack = {frames}, note?}}}
local function sampling_leaks(report, what)
  local list = tbl(report.sites) or {}
  local v = view(string.format("Leak hunt, sampling every %s%s", bytes(report.samplingInterval or 32768),
    what and (": " .. what) or ""), true)
  if #list == 0 then
    v:add("No allocation site's live bytes grew after both actions.")
  else
    v:add(string.format("%d allocation site%s whose live bytes grew after both actions   <CR> source  q close",
      #list, #list == 1 and "" or "s"))
  end
  v:add("")
  for i, site in ipairs(list) do
    local loc = qf.location(site)
    local growth = tbl(site.growth) or {}
    local at = v:add(string.format("%d. %s  %s, %s  live %s  %s", i, tostring(str(site.functionName) or "(anonymous)"),
      signed_bytes(growth[1]), signed_bytes(growth[2]), bytes(site.liveBytes), short(loc)), loc and { loc = loc } or nil)
    if i == 1 then v.open = at end
    v:entry(loc, string.format("%s: live %s, %s and %s after each action", tostring(site.functionName),
      bytes(site.liveBytes), signed_bytes(growth[1]), signed_bytes(growth[2])))
    for _, k in ipairs({ "note", "confidence" }) do
      if str(site[k]) then v:add("    " .. str(site[k])) end
    end
    local stack = tbl(site.stack) or {}
    if #stack > 0 then v:add("    stack (innermost first):") end
    for _, f in ipairs(stack) do
      local floc = qf.location(f)
      v:add(string.format("      %s  %s", tostring(str(f.functionName) or "(anonymous)"), short(floc)),
        floc and { loc = floc } or nil)
    end
  end
  v.fold = 0
  return v
end

--- report = {snapshots={a,b,c}, leaks={{class, count, retainedSize, retainerPath, location?, holder?,
---   growth?, signature?, allocationStack?, exampleId?}}, grown=, detached=}
function M.leaks(report, what)
  if report.mode == "sampling" then return sampling_leaks(report, what) end
  local leaks = tbl(report.leaks) or {}
  local final = tbl(report.snapshots) and report.snapshots[3]
  local v = view("Leak hunt" .. (what and (": " .. what) or ""), true)
  if #leaks == 0 then
    v:add("No leaks: nothing allocated by the action stayed alive and grew.")
  else
    local total = tonumber(report.total) or #leaks
    v:add(string.format("%d leak group%s%s, largest retained first   <CR> source  r retainer path  q close  zo/zc fold",
      #leaks, #leaks == 1 and "" or "s", total > #leaks and string.format(" of %d", total) or ""))
  end
  local gl = gate_line(report, leaks)
  if gl then v:add(gl) end
  v:add("")
  for i, g in ipairs(leaks) do
    local loc = qf.location(g)
    local path = tbl(g.retainerPath) or {}
    local example = tonumber(g.exampleId) or (path[#path] and select(2, step_text(path[#path])))
    local head = group_head(i, g)
    local at = v:add(head .. (loc and ("  " .. short(loc)) or ""), { loc = loc, id = example, snapshot = final })
    if i == 1 then v.open = at end
    if counts(g) then
      v:entry(loc, string.format("%s x%d retained %s: constructor of the leaking objects", tostring(g.class),
        tonumber(g.count) or 0, bytes(g.retainedSize)))
    end
    if not loc then v:add("    (no source location in the snapshot)") end
    local holder = tbl(g.holder)
    if holder then
      local edges = tbl(holder.edges)
      v:add(string.format("    held by %s%s%s", tostring(holder.class or "?"), holder.id and (" @" .. tostring(holder.id)) or "",
        edges and ("  edges " .. table.concat(vim.tbl_map(tostring, edges), " → ")) or ""),
        tonumber(holder.id) and { id = tonumber(holder.id), snapshot = final } or nil)
    end
    -- {frames = {{functionName, url, line, column}...}, share} (hunts that tracked allocations)
    local stack = tbl(g.allocationStack)
    local frames = stack and tbl(stack.frames)
    if frames and #frames > 0 then
      local share = tonumber(stack.share)
      if share and share <= 1 then share = share * 100 end
      v:add("    allocated at" .. (share and string.format(" (%.0f%% of the objects)", share) or "") .. ":")
      for _, f in ipairs(frames) do
        local floc = qf.location(f)
        local name = str(f.functionName) or ""
        -- V8's synthetic frames (the root, an unnamed top) say nothing
        if floc or (name ~= "" and name ~= "(root)") then
          v:add(string.format("      %s  %s", name ~= "" and name or "(anonymous)", short(floc)),
            floc and { loc = floc } or nil)
        end
      end
    end
    if #path > 0 then
      v:add("    retainer path (GC root first):")
      add_path(v, path, "      ", final)
    end
    if str(g.runtimeInternal) then v:add("    runtime-internal: " .. str(g.runtimeInternal)) end
    if str(g.signature) then v:add("    signature " .. str(g.signature)) end
  end
  local grown = tbl(report.grown)
  if grown and #grown > 0 then
    v:add("")
    v:add("Classes that grew after each run of the action")
    for _, g in ipairs(grown) do
      local rounds = tbl(g.rounds) or {}
      v:add(string.format("  %s: +%d objects (%s, then %s), %s shallow", tostring(g.class), tonumber(g.count) or 0,
        tostring(rounds[1] or "?"), tostring(rounds[2] or "?"), bytes(g.size)))
    end
  end
  local detached = tbl(report.detached)
  if detached and #detached > 0 then
    v:add("")
    v:add("Detached DOM nodes in the final snapshot")
    for _, d in ipairs(detached) do
      v:add(string.format("  Detached %s: %d nodes, %s retained", tostring(d.name), tonumber(d.count) or 0,
        bytes(d.retainedSize)))
    end
  end
  v:add("")
  if report.removed then
    v:add(string.format("Snapshots: removed, as nothing %sleaked (give a dir to keep them)",
      #leaks > 0 and "new " or ""))
  else
    v:add("Snapshots")
    for _, p in ipairs(tbl(report.snapshots) or {}) do v:add("  " .. p) end
  end
  v.fold = 0
  return v
end

-- Allocation sites of a sampling profile or a tracking snapshot.
local function sites(v, list, label)
  v:add(string.format("%10s %10s  %-32s %s", "SELF", "TOTAL", "FUNCTION", "WHERE"))
  for _, s in ipairs(list) do
    local loc = qf.location(s)
    local extra = s.count and string.format("  (%d allocations)", s.count) or ""
    v:add(string.format("%10s %10s  %-32s %s%s", bytes(s.self or s.selfSize), bytes(s.total or s.totalSize),
      tostring(s.functionName), loc and short(loc) or "(native)", extra), loc and { loc = loc } or nil)
    v:entry(loc, string.format("%s %s %s%s", label, bytes(s.self or s.selfSize), tostring(s.functionName), extra))
  end
end

function M.sample(r, what)
  local v = view(string.format("Sampling heap profile%s: %d samples, %s sampled", what and (" " .. what) or "",
    r.sampleCount or 0, bytes(r.sampledBytes)), true)
  v:add("")
  sites(v, r.sites or {}, "allocated")
  return v
end

function M.track(r, what)
  local v = view(string.format("Allocation tracking%s: %s", what and (" " .. what) or "", tostring(r.path)), true)
  v:add(string.format("%s in %.1f s", bytes(r.bytes), r.seconds or 0))
  v:add("")
  if r.sites then sites(v, r.sites, "allocated") else v:add("No allocation sites: " .. tostring(r.sitesError)) end
  return v
end

function M.verify(r, what)
  local v = view("Verify cleanup" .. (what and (": " .. what) or ""))
  v:add("")
  v:add(r.released and "RELEASED" or "NOT RELEASED")
  v:add(string.format("    before              %12s", bytes(r.before)))
  v:add(string.format("    after allocate      %12s  (%s)", bytes(r.allocated), signed_bytes(r.grew)))
  v:add(string.format("    after cleanup, GC   %12s  (%s vs before, tolerance %s)", bytes(r.after),
    signed_bytes(r.retained), bytes(r.tolerance)))
  return v
end

-- Rows of summary/diff/top, each with its class's or object's location.
local function row_item(r, snapshot)
  local loc = qf.location(r)
  local id = tonumber(r.id)
  if not loc and not id then return nil end
  return { loc = loc, id = id, snapshot = snapshot }
end

function M.summary(doc, file)
  local v = view(string.format("Summary of %s: %s nodes, %s edges", file, tostring(doc.nodeCount or "?"),
    tostring(doc.edgeCount or "?")))
  v:add("")
  v:add(string.format("%-40s %9s %10s %10s  %s", "CLASS", "COUNT", "SHALLOW", "RETAINED", "WHERE"))
  for _, r in ipairs(tbl(doc.classes) or {}) do
    local loc = qf.location(r)
    v:add(string.format("%-40s %9d %10s %10s  %s", tostring(r.name):sub(1, 40), tonumber(r.count) or 0,
      bytes(r.shallowSize), bytes(r.retainedSize), short(loc)), row_item(r, file))
    if loc then v:entry(loc, string.format("%s x%d retained %s", tostring(r.name), tonumber(r.count) or 0,
      bytes(r.retainedSize))) end
  end
  return v
end

function M.diff(doc, a, b)
  local v = view(string.format("Diff %s → %s%s", a, b, doc.matchedBy == "class"
    and "  (ids renumbered between the snapshots: compared by class counts)" or ""))
  v:add("")
  v:add(string.format("%-40s %8s %8s %8s %11s  %s", "CLASS", "NEW", "DELETED", "DELTA", "SIZE DELTA", "WHERE"))
  for _, r in ipairs(tbl(doc.classes) or {}) do
    local loc = qf.location(r)
    v:add(string.format("%-40s %8d %8d %+8d %11s  %s", tostring(r.name):sub(1, 40), tonumber(r.new) or 0,
      tonumber(r.deleted) or 0, tonumber(r.delta) or 0,
      signed_bytes(r.sizeDelta), short(loc)), row_item(r, b))
    if loc then v:entry(loc, string.format("%s %+d objects, %s", tostring(r.name), tonumber(r.delta) or 0,
      bytes(r.sizeDelta))) end
  end
  return v
end

function M.top(doc, file)
  local v = view("Largest objects by retained size in " .. file .. "   <CR> source  r retainer path", true)
  v:add("")
  v:add(string.format("%4s %10s %10s  %-30s %-12s %s", "#", "RETAINED", "SELF", "CLASS", "ID", "WHERE"))
  for i, r in ipairs(tbl(doc.objects) or {}) do
    local loc = qf.location(r)
    v:add(string.format("%4d %10s %10s  %-30s %-12s %s", i, bytes(r.retainedSize), bytes(r.selfSize),
      tostring(r.className or r.name):sub(1, 30), "@" .. tostring(r.id), short(loc)), row_item(r, file))
    if loc then v:entry(loc, string.format("%s @%s retained %s", tostring(r.className or r.name), tostring(r.id),
      bytes(r.retainedSize))) end
  end
  return v
end

function M.retainers(doc, file, id)
  local node = tbl(doc.node) or {}
  local loc = qf.location(node)
  local v = view(string.format("Retainer path of %s @%s in %s", tostring(node.className or node.name or "?"),
    tostring(id), file))
  v:add(string.format("self %s, retained %s, distance %s  %s", bytes(node.selfSize), bytes(node.retainedSize),
    tostring(node.distance or "-"), short(loc)), loc and { loc = loc, id = id, snapshot = file } or nil)
  if loc then v:entry(loc, string.format("%s @%s", tostring(node.className or node.name), tostring(id))) end
  v:add("")
  local path = tbl(doc.path) or {}
  if doc.reachable == false or #path == 0 then
    v:add("unreachable from the GC roots (weak references skipped)")
  else
    v:add("GC root first; r on a step shows that object's own path")
    add_path(v, path, "    ", file)
  end
  return v
end

function M.error(what, err, code)
  local v = view("memdbg " .. what .. ": " .. (code == "ECANCELLED" and "cancelled" or "failed"))
  v:add("")
  for _, l in ipairs(vim.split(tostring(err), "\n")) do v:add(l) end
  return v
end

return M
