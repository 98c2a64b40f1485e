/* core.metricsServe: the HTTP endpoint of `memdbg monitor --openmetrics`.
 * A thread of its own accepts on a listening socket and answers every GET
 * with the last text Lua published, so a scrape never waits for the monitor's
 * loop and the loop never polls a second descriptor. The text and its two
 * renderings (OpenMetrics, Prometheus 0.0.4, chosen by the Accept header) are
 * Lua's; so is the policy (which address, the loopback rule). One client at a
 * time, 2 s to send its request; nothing else is served. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/metricsd.h"
#include "core/util.h"

#define METRICS_MT "memdbg.core.metrics"
#define MAX_REQUEST 8192

typedef struct {
  int lfd, wake[2]; /* listening socket; a pipe that wakes the thread to stop */
  pthread_t thread;
  int running, closed;
  pthread_mutex_t lock;
  char *om, *prom; /* the published texts (NULL until the first publish) */
  size_t omlen, promlen;
  unsigned long scrapes;
} metrics_t;

static const char *OM_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";
static const char *PROM_TYPE = "text/plain; version=0.0.4; charset=utf-8";

static void send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

static void respond(int fd, const char *status, const char *type, const char *body, size_t len,
                    int head) {
  char hdr[256];
  int n = snprintf(
      hdr, sizeof hdr,
      "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
      type, len);
  send_all(fd, hdr, (size_t)n);
  if (!head) send_all(fd, body, len);
}

/* Reads the request head (up to the blank line) into buf; 0 when complete. */
static int read_head(int fd, char *buf, size_t cap) {
  size_t len = 0;
  while (len + 1 < cap) {
    ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    len += (size_t)r;
    buf[len] = '\0';
    if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n")) return 0;
  }
  return -1;
}

static void serve(metrics_t *m, int fd) {
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  char req[MAX_REQUEST];
  if (read_head(fd, req, sizeof req) != 0) return;
  int head = strncmp(req, "HEAD ", 5) == 0;
  if (!head && strncmp(req, "GET ", 4) != 0) {
    respond(fd, "405 Method Not Allowed", "text/plain", "GET only\n", 9, 0);
    return;
  }
  const char *path = req + (head ? 5 : 4);
  size_t plen = strcspn(path, " ?\r\n");
  if (!((plen == 8 && strncmp(path, "/metrics", 8) == 0) || (plen == 1 && path[0] == '/'))) {
    respond(fd, "404 Not Found", "text/plain", "try /metrics\n", 13, head);
    return;
  }
  /* OpenMetrics when the scraper asks for it (Prometheus does), else 0.0.4 */
  int om = 0;
  for (char *h = strchr(req, '\n'); h; h = strchr(h + 1, '\n')) {
    if (strncasecmp(h + 1, "Accept:", 7) == 0) {
      size_t end = strcspn(h + 1, "\r\n");
      char save = h[1 + end];
      h[1 + end] = '\0';
      om = strstr(h + 1, "application/openmetrics-text") != NULL;
      h[1 + end] = save;
    }
  }
  pthread_mutex_lock(&m->lock);
  const char *text = om ? m->om : m->prom;
  size_t len = om ? m->omlen : m->promlen;
  char *copy = text ? malloc(len ? len : 1) : NULL;
  if (copy) memcpy(copy, text, len);
  m->scrapes++;
  pthread_mutex_unlock(&m->lock);
  if (!copy) {
    respond(fd, "503 Service Unavailable", "text/plain", "no sample yet\n", 14, head);
    return;
  }
  respond(fd, "200 OK", om ? OM_TYPE : PROM_TYPE, copy, len, head);
  free(copy);
}

static void *serve_loop(void *arg) {
  metrics_t *m = arg;
  for (;;) {
    struct pollfd p[2] = {{m->lfd, POLLIN, 0}, {m->wake[0], POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents) break;
    if (!(p[0].revents & POLLIN)) continue;
    int fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) continue;
    serve(m, fd);
    shutdown(fd, SHUT_WR);
    close(fd);
  }
  return NULL;
}

static metrics_t *check(lua_State *L) {
  return luaL_checkudata(L, 1, METRICS_MT);
}

static metrics_t *check_open(lua_State *L) {
  metrics_t *m = check(L);
  if (m->closed) luaL_error(L, "the metrics server is closed");
  return m;
}

/* core.metricsServe(address literal, port) -> server | nil, msg, code */
static int l_serve(lua_State *L) {
  const char *addr = luaL_checkstring(L, 1);
  int port = (int)luaL_checkinteger(L, 2);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t slen;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    slen = sizeof *s4;
  } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    slen = sizeof *s6;
  } else {
    return luaL_argerror(L, 1, "an IPv4 or IPv6 address literal");
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return core_push_error(L, strerror(errno), E_IO);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, 16) != 0) {
    int err = errno;
    close(fd);
    lua_pushnil(L);
    lua_pushfstring(L, "cannot listen on %s port %d: %s", addr, port, strerror(err));
    lua_pushstring(L, err == EADDRINUSE ? "EADDRINUSE" : E_IO);
    return 3;
  }
  metrics_t *m = lua_newuserdatauv(L, sizeof *m, 0);
  memset(m, 0, sizeof *m);
  m->lfd = fd;
  m->wake[0] = m->wake[1] = -1;
  pthread_mutex_init(&m->lock, NULL);
  luaL_setmetatable(L, METRICS_MT);
  if (pipe2(m->wake, O_CLOEXEC) != 0) return core_push_error(L, strerror(errno), E_IO);
  /* the thread takes no signals: Ctrl-C and SIGTERM stay the main thread's */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&m->thread, NULL, serve_loop, m);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) return core_push_error(L, strerror(rc), E_IO);
  m->running = 1;
  return 1;
}

/* server:publish(openmetrics_text, prometheus_text) */
static int l_publish(lua_State *L) {
  metrics_t *m = check_open(L);
  size_t olen, plen;
  const char *o = luaL_checklstring(L, 2, &olen);
  const char *p = luaL_checklstring(L, 3, &plen);
  char *oc = malloc(olen ? olen : 1), *pc = malloc(plen ? plen : 1);
  if (!oc || !pc) {
    free(oc);
    free(pc);
    return luaL_error(L, "out of memory");
  }
  memcpy(oc, o, olen);
  memcpy(pc, p, plen);
  pthread_mutex_lock(&m->lock);
  free(m->om);
  free(m->prom);
  m->om = oc;
  m->omlen = olen;
  m->prom = pc;
  m->promlen = plen;
  pthread_mutex_unlock(&m->lock);
  return 0;
}

/* server:address() -> address literal, port (the bound one when 0 was asked) */
static int l_address(lua_State *L) {
  metrics_t *m = check_open(L);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len = sizeof ss;
  if (m->lfd < 0 || getsockname(m->lfd, (struct sockaddr *)&ss, &len) != 0) return 0;
  char buf[INET6_ADDRSTRLEN];
  int port;
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof buf);
    port = ntohs(s6->sin6_port);
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof buf);
    port = ntohs(s4->sin_port);
  }
  lua_pushstring(L, buf);
  lua_pushinteger(L, port);
  return 2;
}

/* server:scrapes() -> the number of requests answered for /metrics */
static int l_scrapes(lua_State *L) {
  metrics_t *m = check_open(L);
  pthread_mutex_lock(&m->lock);
  unsigned long n = m->scrapes;
  pthread_mutex_unlock(&m->lock);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/* server:close(): stops the thread and the socket; safe to call twice */
static int l_close(lua_State *L) {
  metrics_t *m = check(L);
  if (m->closed) return 0;
  m->closed = 1;
  if (m->running) {
    ssize_t w;
    do
      w = write(m->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(m->thread, NULL);
    m->running = 0;
  }
  if (m->lfd >= 0) close(m->lfd);
  for (int i = 0; i < 2; i++)
    if (m->wake[i] >= 0) close(m->wake[i]);
  m->lfd = m->wake[0] = m->wake[1] = -1;
  free(m->om);
  free(m->prom);
  m->om = m->prom = NULL;
  pthread_mutex_destroy(&m->lock);
  return 0;
}

void metricsd_register(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"publish", l_publish}, {"address", l_address}, {"scrapes", l_scrapes},
      {"close", l_close},     {NULL, NULL},
  };
  if (luaL_newmetatable(L, METRICS_MT)) {
    lua_newtable(L);
    for (const luaL_Reg *r = methods; r->name; r++) {
      lua_pushcfunction(L, r->func);
      lua_setfield(L, -2, r->name);
    }
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_serve);
  lua_setfield(L, -2, "metricsServe");
}
