/* Name resolution on glibc's getaddrinfo_a, polled: the caller's loop never
 * blocks in a resolver and its timeout bounds the lookup like any phase. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/resolve.h"
#include "core/tcp.h"
#include "core/util.h"

#define RES_MT "memdbg.core.resolver"

typedef struct req {
  struct gaicb cb;
  struct addrinfo hints;
  char host[256];
  struct req *next; /* in the graveyard */
} req_t;

typedef struct {
  req_t *r;
} res_ud;

/* Lookups abandoned while glibc's thread still runs them: freed once done. */
static req_t *graveyard;

static void free_req(req_t *r) {
  if (r->cb.ar_result) freeaddrinfo(r->cb.ar_result);
  free(r);
}

static void reap(void) {
  for (req_t **pp = &graveyard; *pp;) {
    req_t *r = *pp;
    if (gai_error(&r->cb) == EAI_INPROGRESS) {
      pp = &r->next;
      continue;
    }
    *pp = r->next;
    free_req(r);
  }
}

/* core.resolveStart(host) -> resolver | nil, msg, code */
static int l_resolve_start(lua_State *L) {
  size_t len;
  const char *host = luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len > 0 && len < sizeof((req_t *)0)->host, 1, "host name length");
  reap();
  res_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->r = NULL;
  luaL_setmetatable(L, RES_MT);
  req_t *r = calloc(1, sizeof *r);
  if (!r) return luaL_error(L, "out of memory");
  memcpy(r->host, host, len + 1);
  r->hints.ai_family = AF_UNSPEC;
  r->hints.ai_socktype = SOCK_STREAM;
  r->cb.ar_name = r->host;
  r->cb.ar_request = &r->hints;
  struct gaicb *list[1] = {&r->cb};
  int g = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
  if (g != 0) {
    free(r);
    char msg[300];
    snprintf(msg, sizeof msg, "cannot resolve %s: %s", host, gai_strerror(g));
    return core_push_error(L, msg, E_NOTFOUND);
  }
  u->r = r;
  return 1;
}

/* resolver:result() -> {address, ...} | nil, msg, code | nothing while running */
static int l_result(lua_State *L) {
  res_ud *u = luaL_checkudata(L, 1, RES_MT);
  if (!u->r) return luaL_error(L, "resolver is closed");
  int g = gai_error(&u->r->cb);
  if (g == EAI_INPROGRESS) return 0;
  if (g != 0) {
    char msg[320];
    snprintf(msg, sizeof msg, "cannot resolve %s: %s", u->r->host, gai_strerror(g));
    return core_push_error(L, msg, E_NOTFOUND);
  }
  lua_newtable(L);
  int n = 0;
  for (struct addrinfo *ai = u->r->cb.ar_result; ai; ai = ai->ai_next) {
    char buf[NI_MAXHOST];
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, sizeof buf, NULL, 0, NI_NUMERICHOST) != 0)
      continue;
    lua_pushstring(L, buf);
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

static int l_close(lua_State *L) {
  res_ud *u = luaL_checkudata(L, 1, RES_MT);
  req_t *r = u->r;
  u->r = NULL;
  if (!r) return 0;
  if (gai_error(&r->cb) == EAI_INPROGRESS && gai_cancel(&r->cb) != EAI_CANCELED &&
      gai_error(&r->cb) == EAI_INPROGRESS) {
    r->next = graveyard; /* glibc still owns it */
    graveyard = r;
    return 0;
  }
  free_req(r);
  return 0;
}

/* core.addressFamily(text) -> 4 | 6 | nil */
static int l_address_family(lua_State *L) {
  int f = tcp_family(luaL_checkstring(L, 1));
  if (!f) return 0;
  lua_pushinteger(L, f);
  return 1;
}

/* core.isLoopback(address literal) -> boolean */
static int l_is_loopback(lua_State *L) {
  lua_pushboolean(L, tcp_is_loopback(luaL_checkstring(L, 1)));
  return 1;
}

void resolve_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"result", l_result}, {"close", l_close}, {NULL, NULL}};
  if (luaL_newmetatable(L, RES_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_resolve_start);
  lua_setfield(L, -2, "resolveStart");
  lua_pushcfunction(L, l_address_family);
  lua_setfield(L, -2, "addressFamily");
  lua_pushcfunction(L, l_is_loopback);
  lua_setfield(L, -2, "isLoopback");
}
