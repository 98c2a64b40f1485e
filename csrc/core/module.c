/* luaopen_memdbg__core: registration only (each unit registers its own). */
#include "core/files.h"
#include "core/http.h"
#include "core/httpload.h"
#include "core/metricsd.h"
#include "core/pollset.h"
#include "core/resolve.h"
#include "core/signals.h"
#include "core/spawn.h"
#include "core/util.h"
#include "core/ws.h"

int luaopen_memdbg__core(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"now", l_now},
      {"sleep", l_sleep},
      {"wait", l_wait},
      {NULL, NULL},
  };
  luaL_newlib(L, funcs);
  ws_register(L);
  http_register(L);
  resolve_register(L);
  pollset_register(L);
  spawn_register(L);
  httpload_register(L);
  files_register(L);
  signals_register(L);
  metricsd_register(L);
  return 1;
}
