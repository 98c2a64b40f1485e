-- memdbg gc: collect garbage and show what it freed.
local common = require("memdbg.workflows.common")
local M = {}

M.help = [[
usage: memdbg gc [--endpoint URL] [--rounds N] [--json]
Collects garbage (N rounds, default 1) and prints heap usage before and after.
]]

function M.run(argv)
  return common.command({
    name = "gc", help = M.help, options = { rounds = { "count", 1 } },
    check = function(opts)
      if opts.rounds < 1 then require("memdbg.cli.args").usage_error("--rounds must be at least 1") end
    end,
    run = function(session, opts)
      local before = session.memory:getHeapUsage()
      local ok, err, code = common.collect(session, opts.rounds)
      if not ok then return nil, err, code end
      local after = session.memory:getHeapUsage()
      local doc = { collected = true, rounds = opts.rounds }
      if before and after then
        doc.before, doc.after, doc.freed = before.usedSize, after.usedSize, before.usedSize - after.usedSize
      end
      if opts.json then
        common.print_json(doc)
      elseif doc.before then
        print(string.format("Garbage collected: %s -> %s (freed %s)", common.bytes(doc.before),
          common.bytes(doc.after), common.bytes(doc.freed)))
      else
        print("Garbage collected.")
      end
      return 0
    end,
  }, argv)
end

return M
