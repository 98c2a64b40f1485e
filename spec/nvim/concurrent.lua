-- luacheck: globals vim
-- Several operations at once in one Neovim, each on its own session (so its
-- own fd and poll handle): two heap usages, a snapshot, and an endpoint that
-- refuses, which must fail alone. Reports each result and the handles left.
local B = dofile((os.getenv("MEMDBG_ROOT") or ".") .. "/spec/nvim/boot.lua")
B.run(function()
  local mn = require("memdbg.nvim")
  local path = assert(B.env("MEMDBG_PATH"), "MEMDBG_PATH")
  local res, n = {}, 0
  local function done(name)
    return function(r, err, code)
      res[name] = { ok = r ~= nil, err = err, code = code, bytes = r and r.bytes, used = r and r.usedSize }
      n = n + 1
      if n == 4 then
        res.running = #mn.running()
        B.finish(res)
      end
    end
  end
  mn.usage({ endpoint = B.endpoint }, done("usage1"))
  mn.snapshot({ endpoint = B.endpoint, path = path }, done("snapshot"))
  mn.usage({ endpoint = B.endpoint }, done("usage2"))
  mn.usage({ endpoint = "http://127.0.0.1:1", connectTimeout = 2 }, done("refused"))
  res.started = #mn.running()
end)
