-- Runtime-internal growth that is not the program's leak: buffers and caches
-- the runtime keeps (bounded, or emptied by the runtime itself) and what the
-- inspector holds for memdbg. A small chain of rules, MemLab-style: each
-- names what it matches and why. Matching groups are marked
-- `runtimeInternal = "why"`, move below every other group and do not count
-- for the exit status (workflows/leak_gate.lua); they stay in the report.
--   require("memdbg.workflows.leak_noise").demote(report.leaks)
local ARROW = require("memdbg.util.format").ARROW

local noise = {}

-- { why, class = pattern | nil, path = pattern | nil, root = pattern | nil }:
-- a group matches when its class matches `class`, or a step of its retainer
-- path matches `path`, or its first step matches `root`. Plain Lua patterns.
noise.rules = {
  { "resource-timing buffer (fetch/undici timing entries; bounded, performance.clearResourceTimings() empties it)",
    class = "^PerformanceResourceTiming$" },
  { "resource-timing buffer (fetch/undici timing entries; bounded, performance.clearResourceTimings() empties it)",
    path = "resourceTimingBuffer" },
  { "performance timeline entries (bounded buffers of the runtime)", class = "^Performance%u%a*Timing$" },
  { "compiled code and compilation caches", class = "^%(compiled code%)$" },
  { "compiled code and compilation caches", class = "^%(code%)" },
  { "compiled code and compilation caches", root = "%(Compilation cache%)" },
  { "compiled code and compilation caches",
    class = "^system / %u%a*(Vector|Cell|SharedFunctionInfo|ScopeInfo|BytecodeArray|Code|Script|CallSiteInfo)" },
  { "object-literal boilerplates V8 keeps per allocation site (made as code warms up)",
    path = "system / AllocationSite" },
  { "inspector bookkeeping (what the debugger holds for this session)", root = "%(Inspector%)" },
  { "inspector bookkeeping (what the debugger holds for this session)", root = "%(Debugger%)" },
  { "inspector bookkeeping (what the debugger holds for this session)", path = "InjectedScript" },
  { "inspector bookkeeping (what the debugger holds for this session)", path = "CommandLineAPI" },
  { "the runtime's timer lists (one per timeout duration in use)", class = "^TimersList$" },
  { "Node's own native bookkeeping (cleanup queue, realms, binding data), held by its Environment",
    root = "^%(synthetic%) Node / Environment" },
  { "Node's pool of HTTP parsers (reused between connections, bounded)", path = ARROW .. " HTTPParser" },
  { "the built-in fetch's (undici's) request queue (a preallocated ring buffer)", path = ARROW .. " FixedCircularBuffer" },
  { "the built-in fetch's (undici's) connect-timeout bookkeeping", path = "socketWeakRef %(context%)" },
}

-- Lua patterns have no alternation: expand "(a|b|c)" in a rule's pattern.
local function matches(pattern, text)
  local pre, alts, post = pattern:match("^(.-)%(([^()]*|[^()]*)%)(.*)$")
  if not pre then return text:find(pattern) ~= nil end
  for alt in (alts .. "|"):gmatch("([^|]*)|") do
    if matches(pre .. alt .. post, text) then return true end
  end
  return false
end
noise.matches = matches

--- why(group) -> the rule's reason when the group is runtime-internal, else nil
function noise.why(g)
  local class = tostring(g.class or g.name or "")
  local path = g.retainerPath or (type(g.holder) == "table" and g.holder.retainerPath) or {}
  for _, r in ipairs(noise.rules) do
    if r.class and matches(r.class, class) then return r[1] end
    if r.root and path[1] and matches(r.root, tostring(path[1])) then return r[1] end
    if r.path then
      for _, step in ipairs(path) do
        if matches(r.path, tostring(step)) then return r[1] end
      end
    end
  end
  return nil
end

--- demote(groups): marks runtime-internal groups and moves them, in their
--- order, below all the others. Returns the number marked.
function noise.demote(groups)
  if type(groups) ~= "table" then return 0 end
  local keep, low = {}, {}
  for _, g in ipairs(groups) do
    local why = noise.why(g)
    if why then
      g.runtimeInternal = why
      low[#low + 1] = g
    else
      keep[#keep + 1] = g
    end
  end
  for i = 1, #groups do groups[i] = nil end
  for _, g in ipairs(keep) do groups[#groups + 1] = g end
  for _, g in ipairs(low) do groups[#groups + 1] = g end
  return #low
end

return noise
