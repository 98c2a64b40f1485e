-- The monitor's alert rules. Each is an object {name = , check = fn(self,
-- sample) -> message or nil} that fires once when its condition starts to
-- hold and again only after it stopped holding. used/total is no rule: V8
-- keeps its total close to what is used, so a healthy heap sits near 100 %.
--
--   limit  the used heap at or above `threshold` (0.9) of the heap limit, the
--          size at which the runtime fails with out of memory
--   trend  after forced GCs (samples with gc = true) the heap grew `count`
--          times in a row (3), by at least `min` bytes (1 MiB) in all: what a
--          leak looks like once garbage is out of the picture
local format = require("memdbg.util.format")

local rules = {}

local MIB = 1048576

local function mib(n)
  return string.format("%.1f MiB", n / MIB)
end

--- limit(limit_bytes, threshold) -> rule
function rules.limit(limit, threshold)
  local above = false
  return {
    name = "limit",
    check = function(_, s)
      if s.gap then return nil end
      local ratio = s.usedSize / limit
      local was = above
      above = ratio >= threshold
      if above and not was then
        return string.format("heap %s is %.0f%% of its %s limit (threshold %.0f%%)", mib(s.usedSize), 100 * ratio,
          mib(limit), 100 * threshold)
      end
    end,
  }
end

--- trend(count, min_bytes) -> rule
function rules.trend(count, min)
  local after, fired = {}, false -- the last count+1 samples taken after a GC
  return {
    name = "trend",
    check = function(_, s)
      if s.gap or not s.gc then return nil end
      after[#after + 1] = s
      if #after > count + 1 then table.remove(after, 1) end
      local growing = #after == count + 1
      for i = 2, #after do
        if after[i].usedSize <= after[i - 1].usedSize then growing = false end
      end
      local first, last = after[1], after[#after]
      if not growing or last.usedSize - first.usedSize < min then
        fired = false
        return nil
      end
      if fired then return nil end
      fired = true
      return string.format("after GC the heap grew at each of the last %d forced GCs: %s %s %s (+%s in %.0f s)",
        count, mib(first.usedSize), format.ARROW, mib(last.usedSize), mib(last.usedSize - first.usedSize),
        last.t - first.t)
    end,
  }
end

return rules
