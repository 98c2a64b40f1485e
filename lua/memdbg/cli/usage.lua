-- memdbg usage: print the heap usage of a runtime (--all: of each isolate).
local common = require("memdbg.workflows.common")
local M = {}

M.help = [[
usage: memdbg usage [--endpoint URL] [--gc] [--all] [--json]
Prints "Heap: USED / TOTAL" and whatever else the runtime reports.
  --gc   collect garbage first
  --all  one row per isolate (the main thread or page, each worker and
         out-of-process iframe) and their total; --json:
         {"isolates": [{"id", "type", "title", "usedSize", "totalSize"}],
          "total": {"usedSize", "totalSize"}}
]]

local function run_all(session, opts)
  local isolates = require("memdbg.transport.isolates")
  local u, err, code = isolates.usage(session, { gc = opts.gc })
  if not u then return nil, err, code end
  if u.note then io.stderr:write("memdbg usage --all: only the main isolate: ", u.note, "\n") end
  for _, s in ipairs(u.skipped) do
    io.stderr:write(string.format("memdbg usage --all: left out %s: %s [%s]\n", s.id, tostring(s.message),
      tostring(s.code)))
  end
  if opts.json then
    local rows = common.array()
    for i, r in ipairs(u.isolates) do
      rows[i] = { id = r.id, type = r.type, title = r.title, usedSize = r.usedSize, totalSize = r.totalSize }
    end
    common.print_json { isolates = rows, total = { usedSize = u.total.usedSize, totalSize = u.total.totalSize } }
    return 0
  end
  local lines = { { "TYPE", "USED", "TOTAL", "TITLE", "ID" } }
  for _, r in ipairs(u.isolates) do
    local title = #r.title > 40 and (r.title:sub(1, 37) .. "...") or r.title
    lines[#lines + 1] = { r.type, common.bytes(r.usedSize), common.bytes(r.totalSize), title, r.id }
  end
  lines[#lines + 1] = { "total", common.bytes(u.total.usedSize), common.bytes(u.total.totalSize),
    string.format("%d isolate%s", #u.isolates, #u.isolates == 1 and "" or "s"), "" }
  for _, l in ipairs(lines) do
    print((string.format("%-10s %10s %10s  %-40s  %s", l[1], l[2], l[3], l[4], l[5]):gsub("%s+$", "")))
  end
  return 0
end

function M.run(argv)
  return common.command({
    name = "usage", help = M.help, options = { gc = "flag", all = "flag" },
    run = function(session, opts)
      if opts.all then return run_all(session, opts) end
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
