/* Leaf helpers every unit of memdbg._core shares: the clock, the Lua error
 * convention (nil, message, CODE) and errno -> code. Depends on nothing else. */
#ifndef MEMDBG_CORE_UTIL_H
#define MEMDBG_CORE_UTIL_H

#include <signal.h>

#include "compat.h"

/* Error codes at the Lua surface (documented in README.md). */
#define E_CONNREFUSED "ECONNREFUSED"
#define E_TIMEDOUT "ETIMEDOUT"
#define E_CLOSED "ECLOSED"
#define E_PROTO "EPROTO"
#define E_NOTFOUND "ENOTFOUND"
#define E_HOSTUNREACH "EHOSTUNREACH"
#define E_IO "EIO"

/* Seconds on the monotonic clock. */
double core_now(void);
/* Pushes nil, msg, code; returns 3. */
int core_push_error(lua_State *L, const char *msg, const char *code);
/* The code for a failed connect's errno. */
const char *core_errno_code(int err);
/* Waits up to `seconds` for `events` (POLLIN/POLLOUT) on fd; fd < 0 only
 * sleeps. Returns poll()'s revents (0 on timeout, and at once when
 * core_signal is set). */
int core_wait_fd(int fd, int events, double seconds);
/* The signal signals.c trapped (the command line's Ctrl-C, SIGTERM, SIGHUP),
 * or 0: every wait returns at once so that Lua runs and unwinds. */
extern volatile sig_atomic_t core_signal;

/* core.now(), core.sleep(s), core.wait(fd, "r"|"w"|"rw", s) */
int l_now(lua_State *L);
int l_sleep(lua_State *L);
int l_wait(lua_State *L);

#endif
