-- memdbg gc: collect garbage and show what it freed.
local frame = require("memdbg.cli.frame")
local format = require("memdbg.util.format")
local steps = require("memdbg.workflows.steps")

return frame.command {
  name = "gc",
  help = [[
usage: memdbg gc [-e URL] [--rounds N] [--json]
Collects garbage (N rounds, default 1) and prints heap usage before and after.
  --rounds N           how many collections (default 1)
  --json               {"collected", "rounds", "before", "after", "freed"} (bytes)
]],
  options = { rounds = { "count", 1 } },
  check = function(opts)
    if opts.rounds < 1 then return "--rounds must be at least 1" end
  end,
  run = function(session, opts)
    local before = session.memory:getHeapUsage()
    local ok, err, code = steps.collect(session, opts.rounds)
    if not ok then return nil, err, code end
    local after = session.memory:getHeapUsage()
    local doc = { collected = true, rounds = opts.rounds }
    if before and after then
      doc.before, doc.after, doc.freed = before.usedSize, after.usedSize, before.usedSize - after.usedSize
    end
    if opts.json then
      frame.print_json(doc)
    elseif doc.before then
      print(string.format("Garbage collected: %s %s %s (freed %s)", format.bytes(doc.before), format.ARROW,
        format.bytes(doc.after), format.bytes(doc.freed)))
    else
      print("Garbage collected.")
    end
    return 0
  end,
}
