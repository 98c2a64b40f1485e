std = "lua54"
max_line_length = 120
files["spec"] = { std = "+busted" }
files["lua/memdbg/nvim.lua"] = { globals = { "vim" } }
files["lua/memdbg/json.lua"] = { read_globals = { "vim" } }
