-- luacheck: globals vim
-- The Lua side of memdbg.nvim.job.lua(): a headless Neovim child runs one
-- library call that would hold the editor (a blocking parse of a file) and
-- prints its result as JSON. $MEMDBG_CHILD = {"call": NAME, "args": [...]}.
local M = {}

local unpack = table.unpack or unpack -- luacheck: ignore 113

local calls = {
  -- the allocation sites of a tracking snapshot (a parse: ~0.3 s for 100 MB)
  tracking_sites = function(path, top)
    -- the engine is a C module: the checkout's build is found through memdbg.nvim.load
    local heap, lerr = require("memdbg.nvim.load").require("memdbg.analysis.heap")
    if not heap then return nil, lerr end
    local sites, err = heap.trackingSites(path, { top = top })
    if not sites then return nil, err end
    return { sites = sites }
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
