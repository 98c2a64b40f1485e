std = "lua54"
max_line_length = 140
files["spec"] = { std = "+busted" }
files["lua/memdbg/nvim.lua"] = { globals = { "vim" } }
files["lua/memdbg/util/json.lua"] = { read_globals = { "vim" } }
-- LuaJIT's global, read where the same code runs on both
read_globals = { "jit" }
files["scripts/memdbg"] = { std = "lua54" }
