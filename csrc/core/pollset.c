/* An epoll set of at most one descriptor, readable when that one is ready. */
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/pollset.h"

#define PS_MT "memdbg.core.pollset"

typedef struct {
  int ep;
  int fd; /* the descriptor registered, or -1 */
} pollset_t;

static pollset_t *check_ps(lua_State *L) {
  return luaL_checkudata(L, 1, PS_MT);
}

/* core.pollset() -> set */
static int l_pollset(lua_State *L) {
  pollset_t *ps = lua_newuserdatauv(L, sizeof *ps, 0);
  ps->ep = ps->fd = -1;
  luaL_setmetatable(L, PS_MT);
  ps->ep = epoll_create1(EPOLL_CLOEXEC);
  if (ps->ep < 0) return luaL_error(L, "epoll_create1 failed");
  return 1;
}

/* set:watch(fd | nil, wantsWrite): from now on, the set is readable when fd
 * is readable (or writable, with wantsWrite). Registered afresh each time:
 * the number may belong to a new socket by now. */
static int l_watch(lua_State *L) {
  pollset_t *ps = check_ps(L);
  if (ps->ep < 0) return luaL_error(L, "pollset is closed");
  int fd = (int)luaL_optinteger(L, 2, -1);
  int wr = lua_toboolean(L, 3);
  if (ps->fd >= 0) epoll_ctl(ps->ep, EPOLL_CTL_DEL, ps->fd, NULL); /* ENOENT if closed since */
  ps->fd = -1;
  if (fd >= 0) {
    struct epoll_event ev = {.events = EPOLLIN | (wr ? EPOLLOUT : 0), .data = {.fd = fd}};
    if (epoll_ctl(ps->ep, EPOLL_CTL_ADD, fd, &ev) == 0) ps->fd = fd;
  }
  return 0;
}

static int l_fd(lua_State *L) {
  pollset_t *ps = check_ps(L);
  if (ps->ep < 0) return 0;
  lua_pushinteger(L, ps->ep);
  return 1;
}

static int l_close(lua_State *L) {
  pollset_t *ps = check_ps(L);
  if (ps->ep >= 0) close(ps->ep);
  ps->ep = -1;
  return 0;
}

void pollset_register(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"watch", l_watch}, {"fd", l_fd}, {"close", l_close}, {NULL, NULL}};
  if (luaL_newmetatable(L, PS_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_pollset);
  lua_setfield(L, -2, "pollset");
}
