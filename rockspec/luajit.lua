-- LuaRocks set up for LuaJIT where it shares Lua 5.1's folders with lua5.1
-- (Debian, Ubuntu): the `memdbg` wrapper runs luajit, the C modules build
-- against LuaJIT's headers. See README.md, "Install".
--   LUAROCKS_CONFIG=rockspec/luajit.lua luarocks --lua-version=5.1 make ...
lua_interpreter = "luajit"
variables = { LUA_INCDIR = "/usr/include/luajit-2.1" }
