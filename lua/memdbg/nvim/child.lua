-- luacheck: globals vim
-- The Lua side of memdbg.nvim.job.lua(): a headless Neovim child runs one
-- library call that would hold the editor (a blocking parse of a file) and
-- prints its result as JSON. $MEMDBG_CHILD = {"call": NAME, "args": [...]}.
local M = {}

local unpack = table.unpack or unpack -- luacheck: ignore 113

local calls = {
  -- the allocation sites of a tracking snapshot's trace_tree (~1 s for 100 MB)
  tracking_sites = function(path, top)
    local r, err = require("memdbg.analysis.profile").tracking_sites(path, top)
    if not r then return nil, err end
    return { sites = r.sites, nodes = r.nodes, functions = r.functions }
  end,
}

function M.main()
  local ok, out = pcall(function()
    local job = vim.json.decode((assert(os.getenv("MEMDBG_CHILD"), "MEMDBG_CHILD")))
    local fn = assert(calls[job.call], "no such call: " .. tostring(job.call))
    local r, err = fn(unpack(job.args or {}))
    return r or { error = tostring(err) }
  end)
  if not ok then out = { error = tostring(out) } end
  io.stdout:write(vim.json.encode(out), "\n")
  io.stdout:flush()
  os.exit(out.error and 3 or 0)
end

return M
