/* The few Lua API differences between Lua 5.4 and LuaJIT (the 5.1 API) that
 * the C modules use. Everything else is kept to the shared subset. */
#ifndef MEMDBG_COMPAT_H
#define MEMDBG_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM < 502
#ifndef luaL_newlib
#define luaL_newlib(L, l) (lua_newtable(L), luaL_register(L, NULL, l))
#endif
#define lua_rawlen(L, i) lua_objlen(L, (i))
static inline void *memdbg_testudata(lua_State *L, int i, const char *tname) {
  void *p = lua_touserdata(L, i);
  if (p == NULL || !lua_getmetatable(L, i)) return NULL;
  luaL_getmetatable(L, tname);
  int same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same ? p : NULL;
}
#define luaL_testudata memdbg_testudata
#define luaL_setmetatable(L, t) (luaL_getmetatable(L, t), lua_setmetatable(L, -2))
#define lua_newuserdatauv(L, sz, nuv) lua_newuserdata(L, sz)
#elif LUA_VERSION_NUM < 504
#define lua_newuserdatauv(L, sz, nuv) lua_newuserdata(L, sz)
#endif

#endif
