/* core.httpLoad: the HTTP requests of a leak-hunt action (`--action-http`).
 * N requests over C keep-alive connections, plain HTTP/1.1 on non-blocking
 * sockets and one poll(): no libwebsockets context and nothing per request in
 * Lua, so memdbg is not the bottleneck of a normal load. Bodies are read and
 * dropped (Content-Length, chunked, or until close). Lua steps it in slices
 * (load:step(s)) so deadlines and Ctrl-C stay Lua's; policy (which URL, the
 * loopback rule) is Lua's too: load:address() names what the host resolved to
 * before anything is sent. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "core/httpload.h"
#include "core/util.h"

#define LOAD_MT "memdbg.core.httpload"
#define MAX_CONC 256
#define MAX_HEAD (64 * 1024)

enum { C_IDLE, C_CONNECTING, C_WRITING, C_READING };

typedef struct {
  int fd, state;
  int served;  /* responses read on this connection */
  size_t woff; /* bytes of the request written */
  char *buf;   /* unread response bytes */
  size_t len, cap;
  int head_done, status, chunked, until_close, close_after;
  long long left;  /* body bytes (or bytes of the current chunk) still to skip */
  int chunk_state; /* chunked: 0 size line, 1 data, 2 CRLF after data, 3 trailers */
} hconn;

typedef struct {
  struct sockaddr_storage addr;
  socklen_t alen;
  char *req;
  size_t reqlen;
  int head_only;
  int requests, conc;
  int started, done, errors, connects;
  int counts[600];
  char first_err[200];
  hconn *c;
} load_t;

static void note_error(load_t *l, const char *what, int err) {
  l->errors++;
  l->done++;
  if (!l->first_err[0])
    snprintf(l->first_err, sizeof l->first_err, "%s: %s", what, err ? strerror(err) : "failed");
}

static void conn_close(hconn *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->state = C_IDLE;
  c->len = 0;
  c->served = 0;
}

static void begin_response(hconn *c) {
  c->woff = 0;
  c->head_done = c->status = c->chunked = c->until_close = c->close_after = 0;
  c->left = 0;
  c->chunk_state = 0;
}

static int open_conn(load_t *l, hconn *c) {
  int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&l->addr, l->alen) != 0 && errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    return -e;
  }
  c->fd = fd;
  c->state = C_CONNECTING;
  c->served = 0;
  l->connects++;
  return 0;
}

/* Starts the next request on c (connecting first when it has no socket). */
static void start_request(load_t *l, hconn *c) {
  begin_response(c);
  c->len = 0;
  if (c->fd < 0) {
    int e = open_conn(l, c);
    if (e < 0) {
      l->started++;
      note_error(l, "connect", -e);
      return;
    }
  } else {
    c->state = C_WRITING;
  }
  l->started++;
}

/* Header value (trimmed) of `name` in the head [p, end), or NULL. */
static const char *header(const char *p, const char *end, const char *name, size_t *vlen) {
  size_t nl = strlen(name);
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
      const char *ve = eol;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
        ve--;
      *vlen = (size_t)(ve - v);
      return v;
    }
    p = eol + 1;
  }
  return NULL;
}

/* Parses the status line and headers when complete. 1 done, 0 need more, -1 bad. */
static int parse_head(load_t *l, hconn *c, size_t *consumed) {
  const char *b = c->buf;
  const char *end = NULL;
  for (size_t i = 3; i < c->len; i++)
    if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r') {
      end = b + i + 1;
      break;
    }
  if (!end) return c->len > MAX_HEAD ? -1 : 0;
  int major, minor, status;
  if (sscanf(b, "HTTP/%d.%d %d", &major, &minor, &status) != 3 || status < 100 || status > 599)
    return -1;
  c->status = status;
  size_t vl;
  const char *v = header(b, end, "connection", &vl);
  c->close_after = (v && vl == 5 && strncasecmp(v, "close", 5) == 0) || (major == 1 && minor == 0);
  v = header(b, end, "transfer-encoding", &vl);
  c->chunked = v && vl >= 7 && strncasecmp(v + vl - 7, "chunked", 7) == 0;
  v = header(b, end, "content-length", &vl);
  if (l->head_only || status == 204 || status == 304 || status < 200) {
    c->left = 0;
  } else if (c->chunked) {
    c->chunk_state = 0;
  } else if (v) {
    c->left = strtoll(v, NULL, 10);
    if (c->left < 0) return -1;
  } else {
    c->until_close = 1;
  }
  c->head_done = 1;
  *consumed = (size_t)(end - b);
  return 1;
}

/* Skips body bytes in c->buf. 1 when the response is complete, 0 need more, -1 bad. */
static int skip_body(hconn *c, size_t *pos) {
  if (c->until_close) {
    *pos = c->len;
    return 0;
  }
  if (!c->chunked) {
    size_t n = c->len - *pos;
    if ((long long)n > c->left) n = (size_t)c->left;
    *pos += n;
    c->left -= (long long)n;
    return c->left == 0;
  }
  for (;;) {
    const char *b = c->buf + *pos;
    size_t avail = c->len - *pos;
    if (c->chunk_state == 1) {
      size_t n = avail < (size_t)c->left ? avail : (size_t)c->left;
      *pos += n;
      c->left -= (long long)n;
      if (c->left > 0) return 0;
      c->chunk_state = 2;
      continue;
    }
    const char *nl = memchr(b, '\n', avail);
    if (!nl) return avail > 4096 ? -1 : 0;
    size_t line = (size_t)(nl - b) + 1;
    *pos += line;
    if (c->chunk_state == 2) {
      c->chunk_state = 0;
    } else if (c->chunk_state == 0) {
      char *e;
      long long size = strtoll(b, &e, 16);
      if (e == b || size < 0) return -1;
      if (size == 0) {
        c->chunk_state = 3;
      } else {
        c->left = size;
        c->chunk_state = 1;
      }
    } else if (line <= 2) { /* the empty line after the trailers */
      return 1;
    }
  }
}

static void finish_response(load_t *l, hconn *c) {
  l->counts[c->status]++;
  l->done++;
  c->served++;
  if (c->close_after || c->until_close)
    conn_close(c);
  else
    c->state = C_IDLE;
}

/* A connection failed or closed. A keep-alive connection the server closed
 * before answering the next request is retried once on a new one. */
static void conn_failed(load_t *l, hconn *c, const char *what, int err) {
  int retry = c->served > 0 && c->len == 0 && !c->head_done;
  if (c->head_done && c->until_close && err == 0) {
    finish_response(l, c);
    return;
  }
  conn_close(c);
  if (retry) {
    l->started--;
    return;
  }
  note_error(l, what, err);
}

static void on_readable(load_t *l, hconn *c) {
  for (;;) {
    if (c->cap - c->len < 16384) {
      size_t cap = c->cap ? c->cap * 2 : 32768;
      char *p = realloc(c->buf, cap);
      if (!p) {
        conn_failed(l, c, "read", ENOMEM);
        return;
      }
      c->buf = p, c->cap = cap;
    }
    /* one byte kept for a NUL: parse_head's sscanf reads up to one */
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      conn_failed(l, c, n == 0 ? "the server closed the connection" : "read", n == 0 ? 0 : errno);
      return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    size_t pos = 0;
    if (!c->head_done) {
      int r = parse_head(l, c, &pos);
      if (r < 0) {
        conn_close(c);
        note_error(l, "malformed HTTP response", 0);
        return;
      }
      if (r == 0) continue;
    }
    int r = skip_body(c, &pos);
    memmove(c->buf, c->buf + pos, c->len - pos);
    c->len -= pos;
    if (r < 0) {
      conn_close(c);
      note_error(l, "malformed chunked body", 0);
      return;
    }
    if (r == 1) {
      c->len = 0; /* pipelining is not used: nothing else can follow */
      finish_response(l, c);
      return;
    }
  }
}

static void on_writable(load_t *l, hconn *c) {
  if (c->state == C_CONNECTING) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
      conn_close(c);
      note_error(l, "connect", err);
      return;
    }
    c->state = C_WRITING;
  }
  while (c->woff < l->reqlen) {
    ssize_t n = send(c->fd, l->req + c->woff, l->reqlen - c->woff, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) {
      conn_failed(l, c, "write", errno);
      return;
    }
    c->woff += (size_t)n;
  }
  c->state = C_READING;
}

/* core.httpLoad{host=, port=, path=, method=, body=, contentType=, hostHeader=,
 *   requests=, concurrency=} -> load | nil, msg, code (the host does not resolve) */
static int l_http_load(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "host");
  lua_getfield(L, 1, "port");
  lua_getfield(L, 1, "path");
  lua_getfield(L, 1, "method");
  lua_getfield(L, 1, "body");
  lua_getfield(L, 1, "contentType");
  lua_getfield(L, 1, "hostHeader");
  lua_getfield(L, 1, "requests");
  lua_getfield(L, 1, "concurrency");
  const char *host = luaL_checkstring(L, 2);
  int port = (int)luaL_checkinteger(L, 3);
  const char *path = luaL_optstring(L, 4, "/");
  const char *method = luaL_optstring(L, 5, "GET");
  size_t blen = 0;
  const char *body = luaL_optlstring(L, 6, NULL, &blen);
  const char *ctype = luaL_optstring(L, 7, NULL);
  const char *hosthdr = luaL_optstring(L, 8, host);
  int requests = (int)luaL_optinteger(L, 9, 100);
  int conc = (int)luaL_optinteger(L, 10, 8);
  if (port < 1 || port > 65535) return luaL_error(L, "httpLoad: port out of range");
  if (requests < 0 || conc < 1 || conc > MAX_CONC)
    return luaL_error(L, "httpLoad: requests >= 0 and 1 <= concurrency <= %d", MAX_CONC);
  if (conc > requests && requests > 0) conc = requests;

  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  int gr = getaddrinfo(host, portstr, &hints, &res);
  if (gr != 0 || !res) {
    char msg[300];
    snprintf(msg, sizeof msg, "cannot resolve %s: %s", host, gai_strerror(gr));
    return core_push_error(L, msg, E_NOTFOUND);
  }

  load_t *l = lua_newuserdatauv(L, sizeof *l, 0);
  memset(l, 0, sizeof *l);
  luaL_setmetatable(L, LOAD_MT);
  memcpy(&l->addr, res->ai_addr, res->ai_addrlen);
  l->alen = res->ai_addrlen;
  freeaddrinfo(res);
  l->requests = requests;
  l->conc = conc;
  l->head_only = strcmp(method, "HEAD") == 0;

  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: memdbg\r\nAccept: */*\r\n", method,
                  path, hosthdr);
  luaL_addvalue(&b);
  if (body) {
    lua_pushfstring(L, "Content-Type: %s\r\nContent-Length: %d\r\n",
                    ctype ? ctype : "application/octet-stream", (int)blen);
    luaL_addvalue(&b);
  }
  luaL_addstring(&b, "\r\n");
  if (body) luaL_addlstring(&b, body, blen);
  luaL_pushresult(&b);
  size_t rl;
  const char *rt = lua_tolstring(L, -1, &rl);
  l->req = malloc(rl);
  l->c = calloc((size_t)conc, sizeof *l->c);
  if (!l->req || !l->c) return luaL_error(L, "out of memory");
  memcpy(l->req, rt, rl);
  l->reqlen = rl;
  lua_pop(L, 1);
  for (int i = 0; i < conc; i++)
    l->c[i].fd = -1;
  return 1;
}

static load_t *check_load(lua_State *L) {
  return luaL_checkudata(L, 1, LOAD_MT);
}

/* load:step(seconds) -> true when every request has been answered (or failed).
 * Returns early on a signal. */
static int l_step(lua_State *L) {
  load_t *l = check_load(L);
  double t = luaL_optnumber(L, 2, 0);
  double deadline = core_now() + (t > 0 ? t : 0);
  struct pollfd pf[MAX_CONC];
  if (!l->c) return luaL_error(L, "httpLoad: closed");
  for (;;) {
    int n = 0;
    for (int i = 0; i < l->conc; i++) {
      hconn *c = &l->c[i];
      if (c->state == C_IDLE && l->started < l->requests) start_request(l, c);
      pf[i].fd = c->state == C_IDLE ? -1 : c->fd;
      pf[i].events = (c->state == C_CONNECTING || c->state == C_WRITING) ? POLLOUT : POLLIN;
      pf[i].revents = 0;
      if (pf[i].fd >= 0) n++;
    }
    if (l->done >= l->requests) {
      lua_pushboolean(L, 1);
      return 1;
    }
    double left = deadline - core_now();
    if (left <= 0 && t > 0) break;
    int ms = left > 0 ? (int)(left * 1000) + 1 : 0;
    if (ms > 100) ms = 100;
    int r = n ? poll(pf, (nfds_t)l->conc, ms) : 0;
    if (r < 0 && errno == EINTR) break;
    for (int i = 0; i < l->conc && r > 0; i++) {
      hconn *c = &l->c[i];
      if (!pf[i].revents || pf[i].fd != c->fd) continue;
      if (c->state == C_CONNECTING || c->state == C_WRITING)
        on_writable(l, c);
      else if (c->state == C_READING)
        on_readable(l, c);
    }
    if (t <= 0 && r == 0) break;
  }
  lua_pushboolean(L, l->done >= l->requests);
  return 1;
}

/* load:result() -> {statuses = {["200"] = n, ...}, errors=, done=, requests=,
 *   connections=, firstError=} */
static int l_result(lua_State *L) {
  load_t *l = check_load(L);
  lua_newtable(L);
  lua_newtable(L);
  for (int s = 100; s < 600; s++) {
    if (!l->counts[s]) continue;
    char k[8];
    snprintf(k, sizeof k, "%d", s);
    lua_pushinteger(L, l->counts[s]);
    lua_setfield(L, -2, k);
  }
  lua_setfield(L, -2, "statuses");
  lua_pushinteger(L, l->errors);
  lua_setfield(L, -2, "errors");
  lua_pushinteger(L, l->done);
  lua_setfield(L, -2, "done");
  lua_pushinteger(L, l->requests);
  lua_setfield(L, -2, "requests");
  lua_pushinteger(L, l->connects);
  lua_setfield(L, -2, "connections");
  if (l->first_err[0]) {
    lua_pushstring(L, l->first_err);
    lua_setfield(L, -2, "firstError");
  }
  return 1;
}

/* load:address() -> the numeric address the host resolved to */
static int l_address(lua_State *L) {
  load_t *l = check_load(L);
  char text[INET6_ADDRSTRLEN] = "";
  if (l->addr.ss_family == AF_INET)
    inet_ntop(AF_INET, &((struct sockaddr_in *)&l->addr)->sin_addr, text, sizeof text);
  else if (l->addr.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&l->addr)->sin6_addr, text, sizeof text);
  lua_pushstring(L, text);
  return 1;
}

/* load:close(): closes every connection; safe twice (also __gc, __close). */
static int l_close(lua_State *L) {
  load_t *l = check_load(L);
  if (l->c) {
    for (int i = 0; i < l->conc; i++) {
      conn_close(&l->c[i]);
      free(l->c[i].buf);
    }
    free(l->c);
    l->c = NULL;
  }
  free(l->req);
  l->req = NULL;
  return 0;
}

void httpload_register(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"step", l_step},   {"result", l_result}, {"address", l_address},
      {"close", l_close}, {NULL, NULL},
  };
  if (luaL_newmetatable(L, LOAD_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_http_load);
  lua_setfield(L, -2, "httpLoad");
}
