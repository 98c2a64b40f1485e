-- Loaded by busted before every spec file (see .busted).
local build = os.getenv("MEMDBG_BUILD") or "build/lua5.4"
package.cpath = build .. "/?.so;" .. package.cpath
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
