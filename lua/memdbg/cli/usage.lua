-- memdbg usage: print the heap usage of a runtime (--all: of each isolate).
local frame = require("memdbg.cli.frame")
local format = require("memdbg.util.format")
local json = require("memdbg.util.json")

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
    local rows = json.array()
    for i, r in ipairs(u.isolates) do
      rows[i] = { id = r.id, type = r.type, title = r.title, usedSize = r.usedSize, totalSize = r.totalSize }
    end
    frame.print_json { isolates = rows, total = { usedSize = u.total.usedSize, totalSize = u.total.totalSize } }
    return 0
  end
  local rows = {}
  for i, r in ipairs(u.isolates) do rows[i] = r end
  rows[#rows + 1] = { type = "total", usedSize = u.total.usedSize, totalSize = u.total.totalSize,
    title = format.count(#u.isolates, "isolate"), id = "" }
  io.write(format.table({
    { title = "TYPE", key = "type", align = "left" },
    { title = "USED", key = "usedSize", format = format.bytes },
    { title = "TOTAL", key = "totalSize", format = format.bytes },
    { title = "TITLE", key = "title", align = "left", max = 40 },
    { title = "ID", key = "id", align = "left" },
  }, rows))
  return 0
end

return frame.command {
  name = "usage",
  help = [[
usage: memdbg usage [-e URL] [--gc] [--all] [--json]
Prints "Heap: USED / TOTAL" and whatever else the runtime reports.
  --gc                 collect garbage first
  --all                one row per isolate (the main thread or page, each worker and
                       out-of-process iframe) and their total
  --json               {"runtime", "usedSize", "totalSize", ...} (bytes); with --all
                       {"isolates": [{"id", "type", "title", "usedSize", "totalSize"}],
                        "total": {"usedSize", "totalSize"}}
]],
  options = { gc = "flag", all = "flag" },
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
      frame.print_json(doc)
      return 0
    end
    print(string.format("Heap: %s / %s (%s)  [%s]", format.bytes(u.usedSize), format.bytes(u.totalSize),
      format.percent(u.totalSize > 0 and u.usedSize / u.totalSize or 0), session.runtime))
    local keys = {}
    for k in pairs(u) do if k ~= "usedSize" and k ~= "totalSize" then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = u[k]
      print(string.format("  %-22s %s", k, type(v) == "number" and format.bytes(v) or tostring(v)))
    end
    return 0
  end,
}
