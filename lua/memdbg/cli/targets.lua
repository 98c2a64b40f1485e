-- memdbg targets: list the inspector targets at an endpoint.
local common = require("memdbg.workflows.common")
local M = {}

M.help = [[
usage: memdbg targets [--endpoint URL] [--json]
Lists the targets (pages, workers, node processes) an inspector endpoint offers.
]]

function M.run(argv)
  return common.command({
    name = "targets", help = M.help, connect = false,
    run = function(_, opts)
      local memdbg = require("memdbg")
      local list, err, code = memdbg.targets(opts.endpoint, { allowRemote = opts["allow-remote"] })
      if not list then return nil, err, code end
      if opts.json then
        local out = common.array()
        for _, t in ipairs(list) do
          out[#out + 1] = { id = t.id, type = t.type, title = t.title, url = t.url,
            webSocketDebuggerUrl = t.webSocketDebuggerUrl }
        end
        common.print_json { endpoint = opts.endpoint, targets = out }
      else
        if #list == 0 then print("No targets at " .. opts.endpoint) end
        for _, t in ipairs(list) do
          print(string.format("%-10s %-36s %s\n           %s", tostring(t.type), tostring(t.id), tostring(t.title),
            tostring(t.webSocketDebuggerUrl or t.url or "")))
        end
      end
      return 0
    end,
  }, argv)
end

return M
