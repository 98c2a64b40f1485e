-- Builds memdbg with its own Makefile against the system libraries:
--   luarocks make --deps-mode=none rockspec/memdbg-scm-1.rockspec
--   luarocks --lua-version=5.1 make ... (LuaJIT, for Neovim)
rockspec_format = "3.0"
package = "memdbg"
version = "scm-1"
source = { url = "git+file:///memdbg" }
description = {
  summary = "A memory debugger for JavaScript runtimes: heap usage, GC, streamed heap snapshots, leak hunts",
  detailed = [[
    Connects to Node.js, Chromium, Deno, Cloudflare Workers and Bun inspectors, streams heap
    snapshots to disk and analyses them natively (dominators, retained sizes, diffs, leaks).
  ]],
  license = "MIT",
}
dependencies = { "lua >= 5.1", "lua-cjson" }
build = {
  type = "make",
  build_target = "modules",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUA = "$(LUA)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    ROCKS_BUILD = "1",
  },
  install_variables = {
    CFLAGS = "$(CFLAGS)",
    PREFIX = "$(PREFIX)",
    LUADIR = "$(LUADIR)",
    LIBDIR = "$(LIBDIR)",
    BINDIR = "$(BINDIR)",
    LUA = "$(LUA)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    ROCKS_BUILD = "1",
  },
}
