/* Ctrl-C, SIGTERM and SIGHUP, for the command line: turned into a Lua error
 * the way the lua interpreter turns Ctrl-C into "interrupted!", so the same
 * unwinding removes what memdbg was writing (a snapshot's private file, a leak
 * hunt's temp dir). The interpreter's own SIGINT handler acts only once Lua
 * runs again, which a wait on a runtime that does not answer delays until its
 * timeout; these set core_signal, which ends every wait at once. A second
 * signal while that runs takes the default action.
 * Never installed by the library on its own: an editor has its own handlers. */
#include <signal.h>
#include <string.h>

#include "core/signals.h"
#include "core/util.h"

static lua_State *trap_L;
static volatile sig_atomic_t caught;

static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  if (caught == SIGINT) luaL_error(L, "interrupted!"); /* as lua.c says it */
  luaL_error(L, "memdbg-signal: %s", caught == SIGHUP ? "SIGHUP" : "SIGTERM");
}

static void on_signal(int sig) {
  caught = sig;
  core_signal = sig;
  /* what lua.c does for SIGINT: the next Lua instruction raises */
  if (trap_L) lua_sethook(trap_L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* core.trapSignals() -> true: SIGTERM and SIGHUP raise "memdbg-signal: NAME",
 * SIGINT "interrupted!", in the calling Lua state (its main thread). */
static int l_trap_signals(lua_State *L) {
  trap_L = L;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESETHAND; /* a second signal is not caught */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* core.caughtSignal() -> the number of the last signal trapped, or nil. */
static int l_caught_signal(lua_State *L) {
  if (!caught) return 0;
  lua_pushinteger(L, caught);
  return 1;
}

void signals_register(lua_State *L) {
  lua_pushcfunction(L, l_trap_signals);
  lua_setfield(L, -2, "trapSignals");
  lua_pushcfunction(L, l_caught_signal);
  lua_setfield(L, -2, "caughtSignal");
}
