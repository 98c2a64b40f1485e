/* Leaf helpers: clock, error convention, waiting on one descriptor. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

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

const char *core_errno_code(int err) {
  switch (err) {
  case ECONNREFUSED:
    return E_CONNREFUSED;
  case ETIMEDOUT:
    return E_TIMEDOUT;
  case ECONNRESET:
  case EPIPE:
    return E_CLOSED;
  default:
    return E_HOSTUNREACH;
  }
}

static int ms_of(double seconds) {
  if (seconds <= 0) return 0;
  if (seconds > 86400) return 86400 * 1000;
  return (int)(seconds * 1000) + 1;
}

volatile sig_atomic_t core_signal;

int core_wait_fd(int fd, int events, double seconds) {
  double deadline = core_now() + seconds;
  for (;;) {
    if (core_signal) return 0;
    struct pollfd p = {fd, (short)events, 0};
    int r = fd >= 0 ? poll(&p, 1, ms_of(seconds)) : poll(NULL, 0, ms_of(seconds));
    if (r >= 0) return r > 0 ? p.revents : 0;
    if (errno != EINTR || core_signal) return 0;
    seconds = deadline - core_now();
    if (seconds <= 0) return 0;
  }
}

int l_now(lua_State *L) {
  lua_pushnumber(L, core_now());
  return 1;
}

int l_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  if (s > 0) core_wait_fd(-1, 0, s);
  return 0;
}

/* core.wait(fd, events, seconds) -> true when ready, false on timeout */
int l_wait(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  const char *ev = luaL_optstring(L, 2, "r");
  double s = luaL_optnumber(L, 3, 0);
  int events = (strchr(ev, 'r') ? POLLIN : 0) | (strchr(ev, 'w') ? POLLOUT : 0);
  lua_pushboolean(L, core_wait_fd(fd, events, s) != 0);
  return 1;
}
