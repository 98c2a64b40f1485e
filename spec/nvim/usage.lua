-- luacheck: globals vim
-- :MemdbgUsage's engine: memdbg.nvim.usage against $MEMDBG_ENDPOINT.
local B = dofile((os.getenv("MEMDBG_ROOT") or ".") .. "/spec/nvim/boot.lua")
B.run(function()
  local mn = require("memdbg.nvim")
  local t0 = B.now()
  local returned
  -- MEMDBG_VIA_G=1: the endpoint comes from g:memdbg_endpoint
  local opts = { endpoint = B.endpoint }
  if B.env("MEMDBG_VIA_G") == "1" then
    vim.g.memdbg_endpoint, opts = B.endpoint, {}
  end
  local handle = mn.usage(opts, function(usage, err, code)
    if not usage then return B.fail(err, { code = code }) end
    B.finish({ usage = usage, returnedAt = returned, seconds = B.now() - t0,
      jit = jit and jit.version,
      json = require("memdbg.util.json").backend })
  end)
  returned = B.now() - t0
  assert(type(handle) == "table" and type(handle.cancel) == "function", "usage returns a handle")
end)
