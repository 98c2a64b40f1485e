/* luaopen_memdbg_core: the private transport module behind lua/memdbg/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#include "core/core.h"

double core_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int core_push_error(lua_State *L, const char *msg, const char *code) {
  lua_pushnil(L);
  lua_pushstring(L, msg);
  lua_pushstring(L, code);
  return 3;
}

/* libwebsockets logs through here, never raw to stderr: the last line is kept
 * for error messages, and MEMDBG_LWS_LOG=1 shows them all. */
static char last_log[256];
static int show_logs;

static void emit_log(int level, const char *line) {
  snprintf(last_log, sizeof last_log, "%s", line);
  size_t n = strlen(last_log);
  while (n && (last_log[n - 1] == '\n' || last_log[n - 1] == '\r')) last_log[--n] = '\0';
  if (show_logs) fprintf(stderr, "memdbg lws[%d]: %s\n", level, last_log);
}

const char *core_last_lws_log(void) { return last_log; }

static int l_now(lua_State *L) {
  lua_pushnumber(L, core_now());
  return 1;
}

static int l_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  if (s > 0) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
  }
  return 0;
}

static int l_probe(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  int port = (int)luaL_checkinteger(L, 2);
  double timeout = luaL_optnumber(L, 3, 10);
  char err[300];
  const char *code = NULL;
  if (net_probe(host, port, timeout, err, sizeof err, &code) != 0)
    return core_push_error(L, err, code);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_last_log(lua_State *L) {
  lua_pushstring(L, last_log);
  return 1;
}

int luaopen_memdbg_core(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"now", l_now},   {"sleep", l_sleep},     {"probe", l_probe},
      {"httpGet", l_http_get}, {"lastLog", l_last_log}, {NULL, NULL},
  };
  const char *env = getenv("MEMDBG_LWS_LOG");
  show_logs = env && *env && strcmp(env, "0") != 0;
  lws_set_log_level(show_logs ? (LLL_ERR | LLL_WARN | LLL_NOTICE) : (LLL_ERR | LLL_WARN), emit_log);
  luaL_newlib(L, funcs);
  ws_register(L);
  lua_pushstring(L, LWS_LIBRARY_VERSION);
  lua_setfield(L, -2, "lwsVersion");
  return 1;
}
