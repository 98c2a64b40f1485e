/* One HTTP GET for target discovery (/json/version, /json/list), as a
 * non-blocking object: connect, send, read the head, read the body
 * (Content-Length, chunked, or up to the end of the connection), all of it
 * bounded by a size cap. The caller owns the clock (see discovery.lua). */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/http.h"
#include "core/httphead.h"
#include "core/tcp.h"
#include "core/util.h"

#define HTTP_MT "memdbg.core.http"
#define HEAD_MAX (16u * 1024)
#define DEFAULT_MAX_BODY (16u * 1024 * 1024)

enum { H_CONNECTING, H_WAITING, H_BODY, H_DONE, H_FAILED };
static const char *const state_names[] = {"connecting", "waiting", "reading", "done", "failed"};
static const char *const phase_names[] = {"TCP connect", "HTTP request", "HTTP answer", "done",
                                          "failed"};
enum { B_UNTIL_EOF, B_LENGTH, B_CHUNKED };

typedef struct {
  int fd, state;
  char *req;
  size_t reqlen, reqoff;
  char *buf; /* the head, then the body (decoded in place when chunked) */
  size_t len, cap, headlen, max_body;
  int status, mode;
  unsigned long long clen;
  chunked_t ch;
  char err[320];
  const char *errcode;
} http_t;

static void fail(http_t *h, const char *code, const char *fmt, const char *detail) {
  if (!h->err[0]) {
    snprintf(h->err, sizeof h->err, fmt, detail);
    h->errcode = code;
  }
  if (h->fd >= 0) close(h->fd);
  h->fd = -1;
  h->state = H_FAILED;
}

static void done(http_t *h) {
  if (h->fd >= 0) close(h->fd);
  h->fd = -1;
  h->state = H_DONE;
}

static size_t body_len(const http_t *h) {
  return h->len - h->headlen;
}

static void too_big(http_t *h) {
  char detail[32];
  snprintf(detail, sizeof detail, "%zu", h->max_body);
  fail(h, E_PROTO, "the answer is larger than the %s-byte limit", detail);
}

/* Reads the head once it is complete: status and how the body is framed. */
static void on_head(http_t *h) {
  const char *v;
  size_t vl;
  h->status = httphead_status(h->buf, h->headlen);
  if (h->status < 0) return fail(h, E_PROTO, "the answer is not HTTP%s", "");
  if (httphead_header(h->buf, h->headlen, "Transfer-Encoding", &v, &vl) &&
      httphead_has_token(v, vl, "chunked")) {
    h->mode = B_CHUNKED;
  } else if (httphead_header(h->buf, h->headlen, "Content-Length", &v, &vl)) {
    char num[24];
    if (vl == 0 || vl >= sizeof num) return fail(h, E_PROTO, "a bad Content-Length%s", "");
    memcpy(num, v, vl);
    num[vl] = '\0';
    char *e;
    h->clen = strtoull(num, &e, 10);
    if (*e || num[0] == '-') return fail(h, E_PROTO, "a bad Content-Length%s", "");
    if (h->clen > h->max_body) return too_big(h);
    h->mode = B_LENGTH;
  } else {
    h->mode = B_UNTIL_EOF;
  }
  h->state = H_BODY;
}

/* Takes n new bytes at the end of buf (already counted in len). */
static void on_bytes(http_t *h, size_t n) {
  if (h->state == H_WAITING) {
    size_t hl = httphead_length(h->buf, h->len);
    if (!hl) {
      if (h->len >= HEAD_MAX || (h->len >= 5 && memcmp(h->buf, "HTTP/", 5) != 0))
        fail(h, E_PROTO, "the answer is not HTTP%s", "");
      return;
    }
    h->headlen = hl;
    on_head(h);
    if (h->state != H_BODY) return;
    n = body_len(h); /* body bytes that came with the head */
  }
  if (h->mode == B_CHUNKED) {
    char *raw = h->buf + h->len - n;
    int fin = 0;
    long out = chunked_feed(&h->ch, raw, n, raw, &fin);
    if (out < 0) return fail(h, E_PROTO, "a broken chunked body%s", "");
    h->len = h->len - n + (size_t)out;
    if (fin) done(h);
  } else if (h->mode == B_LENGTH && body_len(h) >= h->clen) {
    h->len = h->headlen + (size_t)h->clen; /* anything after it is not ours */
    done(h);
  }
  if (h->state == H_BODY && body_len(h) > h->max_body) too_big(h);
}

static void pump(http_t *h) {
  if (h->state == H_CONNECTING) {
    if (!(core_wait_fd(h->fd, POLLOUT, 0) & (POLLOUT | POLLERR | POLLHUP))) return;
    int err = tcp_result(h->fd);
    if (err) return fail(h, core_errno_code(err), "%s", strerror(err));
    h->state = H_WAITING;
  }
  while (h->state == H_WAITING && h->req) {
    ssize_t w = send(h->fd, h->req + h->reqoff, h->reqlen - h->reqoff, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return fail(h, E_CLOSED, "sending the request failed: %s", strerror(errno));
    }
    h->reqoff += (size_t)w;
    if (h->reqoff == h->reqlen) {
      free(h->req);
      h->req = NULL;
    }
  }
  while (h->state == H_WAITING || h->state == H_BODY) {
    if (h->cap - h->len < 16384) {
      size_t cap = h->cap * 2;
      if (cap > h->max_body + HEAD_MAX + 65536) cap = h->max_body + HEAD_MAX + 65536;
      char *p = cap > h->cap ? realloc(h->buf, cap) : NULL;
      if (!p) return too_big(h);
      h->buf = p, h->cap = cap;
    }
    ssize_t n = recv(h->fd, h->buf + h->len, h->cap - h->len - 1, 0);
    if (n > 0) {
      h->len += (size_t)n;
      on_bytes(h, (size_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) return fail(h, E_CLOSED, "reading the answer failed: %s", strerror(errno));
    /* the end of the connection */
    if (h->state == H_BODY && h->mode == B_UNTIL_EOF) return done(h);
    if (h->state == H_WAITING && h->len == 0)
      return fail(h, E_CLOSED, "the connection closed without an answer%s", "");
    return fail(h, E_PROTO,
                h->state == H_WAITING ? "the answer is not HTTP%s" : "the answer was cut short%s",
                "");
  }
}

static void service(http_t *h, double timeout) {
  double deadline = core_now() + timeout;
  for (;;) {
    pump(h);
    if (h->state == H_DONE || h->state == H_FAILED) return;
    double left = deadline - core_now();
    if (left <= 0) return;
    core_wait_fd(h->fd, h->state == H_CONNECTING ? POLLOUT : POLLIN | (h->req ? POLLOUT : 0), left);
    if (core_signal) return; /* Lua unwinds */
  }
}

static void destroy(http_t *h) {
  if (h->fd >= 0) close(h->fd);
  h->fd = -1;
  free(h->req);
  free(h->buf);
  h->req = h->buf = NULL;
}

/* ------------------------------------------------------------------ Lua */

static http_t *check_http(lua_State *L) {
  return luaL_checkudata(L, 1, HTTP_MT);
}

/* Pushes a new request, or nil, msg, code; returns the count pushed. */
static int http_new(lua_State *L, const char *addr, lua_Integer port, const char *path,
                    const char *host, size_t max_body) {
  luaL_argcheck(L, port > 0 && port < 65536, 2, "port out of range");
  luaL_argcheck(L, tcp_family(addr) != 0, 1, "not an IP address literal");
  char hostbuf[80];
  if (!host) {
    snprintf(hostbuf, sizeof hostbuf, tcp_family(addr) == 6 ? "[%s]:%d" : "%s:%d", addr, (int)port);
    host = hostbuf;
  }
  if (path[0] != '/' || strlen(path) > 4096 || !httphead_clean(path) || strlen(host) > 300 ||
      !httphead_clean(host))
    return core_push_error(
        L, "refusing an HTTP path or host with control characters, spaces or too many characters",
        E_PROTO);
  http_t *h = lua_newuserdatauv(L, sizeof *h, 0);
  memset(h, 0, sizeof *h);
  h->fd = -1;
  luaL_setmetatable(L, HTTP_MT);
  h->max_body = max_body;
  size_t cap = strlen(path) + strlen(host) + 100;
  h->req = malloc(cap);
  h->cap = 65536;
  h->buf = malloc(h->cap);
  if (!h->req || !h->buf) return luaL_error(L, "out of memory");
  h->reqlen = (size_t)snprintf(h->req, cap,
                               "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n"
                               "Connection: close\r\n\r\n",
                               path, host);
  int err;
  h->fd = tcp_start(addr, (int)port, &err);
  if (h->fd < 0) fail(h, core_errno_code(err), "%s", strerror(err));
  return 1;
}

/* core.httpStart(address, port, path[, {host=, maxBody=}]) -> request | nil, msg, code
 * address: an IP literal; host: the Host header (default address:port). */
static int l_http_start(lua_State *L) {
  const char *addr = luaL_checkstring(L, 1);
  lua_Integer port = luaL_checkinteger(L, 2);
  const char *path = luaL_checkstring(L, 3);
  const char *host = NULL;
  size_t max_body = DEFAULT_MAX_BODY;
  if (lua_istable(L, 4)) {
    lua_getfield(L, 4, "host");
    host = lua_tostring(L, -1);
    lua_getfield(L, 4, "maxBody");
    if (!lua_isnil(L, -1)) {
      lua_Number mb = luaL_checknumber(L, -1);
      luaL_argcheck(L, mb >= 1 && mb <= 1e9, 4, "maxBody out of range");
      max_body = (size_t)mb;
    }
    lua_pop(L, 1); /* host stays referenced on the stack */
  }
  return http_new(L, addr, port, path, host, max_body);
}

/* request:service(seconds) -> state */
static int l_service(lua_State *L) {
  http_t *h = check_http(L);
  double t = luaL_optnumber(L, 2, 0);
  if (h->state != H_DONE && h->state != H_FAILED) service(h, t < 0 ? 0 : t);
  lua_pushstring(L, state_names[h->state]);
  return 1;
}

static int l_phase(lua_State *L) {
  lua_pushstring(L, phase_names[check_http(L)->state]);
  return 1;
}

static int l_fd(lua_State *L) {
  http_t *h = check_http(L);
  if (h->fd < 0) return 0;
  lua_pushinteger(L, h->fd);
  return 1;
}

static int l_wants_write(lua_State *L) {
  http_t *h = check_http(L);
  lua_pushboolean(L, h->fd >= 0 && (h->state == H_CONNECTING || h->req != NULL));
  return 1;
}

/* request:result() -> status, body | nil, msg, code (nil alone while running) */
static int l_result(lua_State *L) {
  http_t *h = check_http(L);
  if (h->state == H_FAILED) return core_push_error(L, h->err, h->errcode);
  if (h->state != H_DONE) return 0;
  lua_pushinteger(L, h->status);
  lua_pushlstring(L, h->buf + h->headlen, body_len(h));
  return 2;
}

static int l_close(lua_State *L) {
  destroy(check_http(L));
  return 0;
}

/* core.httpGet(address, port, path, timeout[, host]) -> status, body | nil, msg, code:
 * the blocking form, for short requests (--traffic). */
static int l_http_get(lua_State *L) {
  const char *addr = luaL_checkstring(L, 1);
  lua_Integer port = luaL_checkinteger(L, 2);
  const char *path = luaL_checkstring(L, 3);
  double timeout = luaL_optnumber(L, 4, 10);
  const char *host = luaL_optstring(L, 5, NULL);
  char literal[64];
  if (!tcp_family(addr)) {
    int g = tcp_resolve_first(addr, literal, sizeof literal);
    if (g != 0) {
      char msg[300];
      snprintf(msg, sizeof msg, "cannot resolve %.200s: %s", addr, gai_strerror(g));
      return core_push_error(L, msg, E_NOTFOUND);
    }
    addr = literal;
  }
  int n = http_new(L, addr, port, path, host, DEFAULT_MAX_BODY);
  if (n != 1) return n;
  http_t *h = lua_touserdata(L, -1);
  service(h, timeout);
  if (h->state != H_DONE && h->state != H_FAILED) {
    char msg[64];
    snprintf(msg, sizeof msg, "no HTTP answer within %g s", timeout);
    destroy(h);
    return core_push_error(L, msg, E_TIMEDOUT);
  }
  lua_replace(L, 1);
  lua_settop(L, 1);
  n = l_result(L);
  destroy(h);
  return n;
}

void http_register(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"service", l_service}, {"phase", l_phase}, {"fd", l_fd}, {"wantsWrite", l_wants_write},
      {"result", l_result},   {"close", l_close}, {NULL, NULL},
  };
  if (luaL_newmetatable(L, HTTP_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_http_start);
  lua_setfield(L, -2, "httpStart");
  lua_pushcfunction(L, l_http_get);
  lua_setfield(L, -2, "httpGet");
}
