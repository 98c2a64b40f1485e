-- memdbg targets: list the inspector targets at an endpoint (--children:
-- and the workers and iframes under each page or runtime).
local frame = require("memdbg.cli.frame")
local json = require("memdbg.util.json")

local HELP = [[
usage: memdbg targets [-e URL] [--children] [--json]
Lists the targets (pages, workers, node processes) an inspector endpoint offers.
  --children           also connect to each page and runtime and list the isolates under
                       it (worker_threads; dedicated, shared and service workers;
                       out-of-process iframes), or why there are none
  --json               {"endpoint", "targets": [{"id", "type", "title", "url", "webSocketDebuggerUrl",
                       "children": [{"id", "type", "title", "url"}] (--children) or "childrenError"}]}
]]

-- Pages and runtimes have children; Chromium lists its workers and iframes at
-- the top level too, but they are children of a page.
local function may_have_children(t)
  return (t.type == "page" or t.type == "node") and t.webSocketDebuggerUrl ~= nil
    and not tostring(t.url or ""):match("^chrome") and not tostring(t.url or ""):match("^devtools")
end

local function children_of(t, opts)
  local memdbg = require("memdbg")
  local s, err, code = memdbg.connect { endpoint = opts.endpoint, target = t.id,
    allowRemote = opts["allow-remote"] }
  if not s then return nil, err, code end
  local list
  list, err, code = s:children()
  s:close()
  return list, err, code
end

return frame.command {
  name = "targets", help = HELP, connect = "endpoint", -- the endpoint's options; no session
  options = { children = "flag" },
  run = function(_, opts)
    local memdbg = require("memdbg")
    local list, err, code = memdbg.targets(opts.endpoint, { allowRemote = opts["allow-remote"],
      timeout = opts["connect-timeout"] })
    if not list then return nil, err, code end
    local kids, why = {}, {}
    if opts.children then
      for _, t in ipairs(list) do
        if may_have_children(t) then
          local c, cerr, ccode = children_of(t, opts)
          kids[t], why[t] = c, not c and string.format("%s [%s]", tostring(cerr), tostring(ccode)) or nil
        end
      end
    end
    if opts.json then
      local out = json.array()
      for _, t in ipairs(list) do
        local c = kids[t] and json.array() or nil
        for i, k in ipairs(kids[t] or {}) do c[i] = { id = k.id, type = k.type, title = k.title, url = k.url } end
        out[#out + 1] = { id = t.id, type = t.type, title = t.title, url = t.url,
          webSocketDebuggerUrl = t.webSocketDebuggerUrl, children = c, childrenError = why[t] }
      end
      frame.print_json { endpoint = opts.endpoint, targets = out }
    else
      if #list == 0 then print("No targets at " .. opts.endpoint) end
      for _, t in ipairs(list) do
        print(string.format("%-10s %-36s %s\n           %s", tostring(t.type), tostring(t.id), tostring(t.title),
          tostring(t.webSocketDebuggerUrl or t.url or "")))
        for _, k in ipairs(kids[t] or {}) do
          print(string.format("  └ %-8s %-34s %s\n             %s", k.type, k.id, k.title, k.url))
        end
        if why[t] then print("  (no children: " .. why[t] .. ")") end
      end
    end
    return 0
  end,
}
