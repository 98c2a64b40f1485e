-- memdbg usage: print the heap usage of a runtime.
local common = require("memdbg.workflows.common")
local M = {}

M.help = [[
usage: memdbg usage [--endpoint URL] [--gc] [--json]
Prints "Heap: USED / TOTAL" and whatever else the runtime reports.
  --gc   collect garbage first
]]

function M.run(argv)
  return common.command({
    name = "usage", help = M.help, options = { gc = "flag" },
    run = function(session, opts)
      if opts.gc then
        local ok, err, code = session.memory:collectGarbage()
        if not ok then return nil, err, code end
      end
      local u, err, code = session.memory:getHeapUsage()
      if not u then return nil, err, code end
      if opts.json then
        local doc = { runtime = session.runtime }
        for k, v in pairs(u) do doc[k] = v end
        common.print_json(doc)
      else
        print(string.format("Heap: %s / %s (%.0f%%)  [%s]", common.bytes(u.usedSize), common.bytes(u.totalSize),
          u.totalSize > 0 and 100 * u.usedSize / u.totalSize or 0, session.runtime))
        local keys = {}
        for k in pairs(u) do if k ~= "usedSize" and k ~= "totalSize" then keys[#keys + 1] = k end end
        table.sort(keys)
        for _, k in ipairs(keys) do
          local v = u[k]
          print(string.format("  %-22s %s", k, type(v) == "number" and common.bytes(v) or tostring(v)))
        end
      end
      return 0
    end,
  }, argv)
end

return M
