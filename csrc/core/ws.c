/* One websocket to an inspector target: a small RFC 6455 client of our own.
 * Non-blocking throughout: a TCP connect, the HTTP upgrade, then frames read
 * in large blocks (a data frame's payload straight into the message being
 * assembled) and written whole. Complete messages queue in C for Lua to
 * drain with recv(); heap snapshot chunks go to the sink instead. Nothing
 * here runs on a timer: the connection sends only what the caller asked for,
 * the pong a ping asks for, and close frames. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/httphead.h"
#include "core/sink.h"
#include "core/tcp.h"
#include "core/util.h"
#include "core/ws.h"
#include "core/wsframe.h"
#include "core/wskey.h"

#define CONN_MT "memdbg.core.conn"
#define RBUF_SIZE (256u * 1024)
#define HEAD_MAX (16u * 1024)
#define READS_PER_PUMP 64 /* then back to the caller, even while data keeps coming */

enum { ST_CONNECTING, ST_UPGRADING, ST_OPEN, ST_CLOSED };
static const char *const state_names[] = {"connecting", "connecting", "open", "closed"};
static const char *const phase_names[] = {"TCP connect", "websocket upgrade", "open", "closed"};

typedef struct msg {
  struct msg *next;
  size_t len, off; /* off: bytes already written (outgoing) */
  char *text;
} msg_t;

typedef struct conn {
  int fd, state;
  char key[25];
  char *req; /* the upgrade request, until written */
  size_t reqlen, reqoff;
  unsigned char *rbuf; /* bytes read and not yet parsed */
  size_t rpos, rlen;
  int in_frame, frame_fin, frag; /* a data frame's payload is coming; fin; mid-message */
  uint64_t left;                 /* payload bytes of that frame still to come */
  char *rx;                      /* the message being assembled, NUL-terminated */
  size_t rxlen, rxcap, max_message;
  int discard;  /* closing: read and drop */
  int upgraded; /* the handshake succeeded (the runtime may have closed since) */
  msg_t *in_head, *in_tail;
  msg_t *out_head, *out_tail;
  int close_code, close_sent, close_received;
  char close_reason[124];
  char err[320];
  const char *errcode;
  char addr[64], hosthdr[300], path[1024];
  int port;
  sink_t sink;
} conn_t;

typedef struct {
  conn_t *c;
} conn_ud;

static void push_msg(msg_t **head, msg_t **tail, msg_t *m) {
  m->next = NULL;
  if (*tail)
    (*tail)->next = m;
  else
    *head = m;
  *tail = m;
}

static void free_queue(msg_t **head, msg_t **tail) {
  for (msg_t *m = *head, *n; m; m = n) {
    n = m->next;
    free(m->text);
    free(m);
  }
  *head = *tail = NULL;
}

static void set_error(conn_t *c, const char *code, const char *fmt, const char *detail) {
  if (c->err[0]) return; /* the first cause is the one worth reporting */
  snprintf(c->err, sizeof c->err, fmt, detail);
  c->errcode = code;
}

static void shut(conn_t *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->state = ST_CLOSED;
}

/* Queues one final, masked frame. */
static int queue_frame(conn_t *c, int opcode, const void *payload, size_t len) {
  msg_t *m = malloc(sizeof *m);
  char *buf = malloc(len + 14);
  if (!m || !buf) {
    free(m);
    free(buf);
    return -1;
  }
  unsigned char mask[4];
  wskey_random(mask, sizeof mask);
  size_t h = wsframe_header((unsigned char *)buf, opcode, len, mask);
  if (len) memcpy(buf + h, payload, len);
  wsframe_mask((unsigned char *)buf + h, len, mask);
  m->text = buf;
  m->len = h + len;
  m->off = 0;
  push_msg(&c->out_head, &c->out_tail, m);
  return 0;
}

static void send_close(conn_t *c, int code) {
  if (c->close_sent || c->fd < 0) return;
  unsigned char body[2] = {(unsigned char)(code >> 8), (unsigned char)code};
  queue_frame(c, WS_CLOSE, body, code ? 2 : 0);
  c->close_sent = 1;
}

/* Writes what the socket takes now. */
static void flush_out(conn_t *c) {
  if (c->fd < 0) return;
  if (c->state == ST_UPGRADING && c->req) {
    while (c->reqoff < c->reqlen) {
      ssize_t w = send(c->fd, c->req + c->reqoff, c->reqlen - c->reqoff, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        set_error(c, E_CLOSED, "sending the websocket upgrade failed: %s", strerror(errno));
        shut(c);
        return;
      }
      c->reqoff += (size_t)w;
    }
    free(c->req);
    c->req = NULL;
    return;
  }
  if (c->state != ST_OPEN) return;
  while (c->out_head) {
    msg_t *m = c->out_head;
    ssize_t w = send(c->fd, m->text + m->off, m->len - m->off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      set_error(c, E_CLOSED, "writing to the websocket failed: %s", strerror(errno));
      shut(c);
      return;
    }
    m->off += (size_t)w;
    if (m->off < m->len) continue;
    c->out_head = m->next;
    if (!c->out_head) c->out_tail = NULL;
    free(m->text);
    free(m);
  }
}

/* A protocol violation by the runtime: say why, close with 1002. */
static void proto_error(conn_t *c, const char *what) {
  set_error(c, E_PROTO, "the runtime broke the websocket protocol (%s)", what);
  send_close(c, 1002);
  flush_out(c);
  shut(c);
}

static void deliver(conn_t *c) {
  char *replacement = NULL;
  if (c->discard) {
    c->rxlen = 0;
    return;
  }
  if (c->sink.active && sink_offer(&c->sink, c->rx, &c->rxlen, &replacement)) {
    c->rxlen = 0; /* the buffer is kept for the next chunk */
    if (!replacement) return;
    msg_t *m = malloc(sizeof *m);
    if (!m) {
      free(replacement);
      return;
    }
    m->text = replacement;
    m->len = strlen(replacement);
    push_msg(&c->in_head, &c->in_tail, m);
    return;
  }
  msg_t *m = malloc(sizeof *m);
  /* A message that fills most of the buffer takes the buffer itself (no copy
   * of a large message); a small one in a large buffer (an event amid
   * snapshot chunks) is copied, and the buffer stays for the next chunk. */
  int copy = c->rxlen < c->rxcap / 4;
  char *text = copy ? malloc(c->rxlen + 1) : c->rx;
  if (!m || !text) {
    free(m);
    if (copy) free(text);
    set_error(c, E_PROTO, "out of memory receiving a message%s", "");
    shut(c);
    return;
  }
  if (copy) memcpy(text, c->rx, c->rxlen + 1);
  m->text = text;
  m->len = c->rxlen;
  push_msg(&c->in_head, &c->in_tail, m);
  if (!copy) {
    c->rx = NULL;
    c->rxcap = 0;
  }
  c->rxlen = 0;
}

/* Room for `more` payload bytes in the message being assembled. */
static int reserve_rx(conn_t *c, uint64_t more) {
  if (more > c->max_message || c->rxlen + more > c->max_message) {
    char detail[32];
    snprintf(detail, sizeof detail, "%zu", c->max_message);
    set_error(c, E_PROTO, "the runtime sent a message larger than the %s-byte cap (maxMessage)",
              detail);
    send_close(c, 1009);
    flush_out(c);
    shut(c);
    return -1;
  }
  size_t need = c->rxlen + (size_t)more + 1;
  if (need <= c->rxcap) return 0;
  size_t cap = c->rxcap ? c->rxcap : 4096;
  while (cap < need)
    cap *= 2;
  if (cap > c->max_message + 1) cap = c->max_message + 1;
  char *p = realloc(c->rx, cap);
  if (!p) {
    set_error(c, E_PROTO, "out of memory receiving a message%s", "");
    shut(c);
    return -1;
  }
  c->rx = p, c->rxcap = cap;
  return 0;
}

static void end_of_payload(conn_t *c) {
  c->in_frame = 0;
  c->rx[c->rxlen] = '\0';
  if (c->frame_fin) {
    c->frag = 0;
    deliver(c);
  }
}

static void on_control(conn_t *c, int opcode, const unsigned char *p, size_t len) {
  if (opcode == WS_PING) {
    if (queue_frame(c, WS_PONG, p, len) == 0) flush_out(c);
  } else if (opcode == WS_CLOSE) {
    c->close_received = 1;
    if (len >= 2) {
      c->close_code = (p[0] << 8) | p[1];
      size_t rl = len - 2 < sizeof c->close_reason - 1 ? len - 2 : sizeof c->close_reason - 1;
      memcpy(c->close_reason, p + 2, rl);
      c->close_reason[rl] = '\0';
    } else {
      c->close_code = 1005; /* no status received */
    }
    send_close(c, len >= 2 ? c->close_code : 0);
    flush_out(c);
    shut(c);
  } else if (opcode != WS_PONG) {
    proto_error(c, "unknown control opcode");
  }
}

/* Parses the frames in rbuf, as far as they go. */
static void parse_frames(conn_t *c) {
  while (c->state == ST_OPEN && c->rpos < c->rlen) {
    unsigned char *p = c->rbuf + c->rpos;
    size_t avail = c->rlen - c->rpos;
    if (c->in_frame) {
      size_t take = avail < c->left ? avail : (size_t)c->left;
      memcpy(c->rx + c->rxlen, p, take);
      c->rxlen += take, c->left -= take, c->rpos += take;
      if (!c->left) end_of_payload(c);
      continue;
    }
    wsframe_t f;
    int r = wsframe_parse(p, avail, &f);
    if (r == 0) break;
    if (r < 0) return proto_error(c, "bad frame length");
    if (f.masked) return proto_error(c, "a masked frame from the server");
    if (f.rsv) return proto_error(c, "reserved bits set");
    if (f.opcode >= 8) {
      if (!f.fin || f.len > 125) return proto_error(c, "a fragmented or long control frame");
      if (avail < f.hlen + f.len) break;
      c->rpos += f.hlen + (size_t)f.len;
      on_control(c, f.opcode, p + f.hlen, (size_t)f.len);
      continue;
    }
    if (f.opcode == WS_CONT) {
      if (!c->frag) return proto_error(c, "a continuation frame outside a message");
    } else if (f.opcode == WS_TEXT || f.opcode == WS_BINARY) {
      if (c->frag) return proto_error(c, "a new message inside a fragmented one");
      c->rxlen = 0;
    } else {
      return proto_error(c, "unknown opcode");
    }
    if (reserve_rx(c, f.len) != 0) return;
    c->rpos += f.hlen;
    c->frag = !f.fin;
    c->frame_fin = f.fin;
    c->in_frame = 1;
    c->left = f.len;
    if (!c->left) end_of_payload(c);
  }
  if (c->rpos == c->rlen) c->rpos = c->rlen = 0;
}

/* The end of the byte stream, or a failed read. */
static void on_eof(conn_t *c, int err) {
  if (err)
    set_error(c, E_CLOSED, "reading from the websocket failed: %s", strerror(err));
  else if (c->state == ST_UPGRADING)
    set_error(c, E_CLOSED, "the connection closed during the websocket upgrade%s", "");
  shut(c);
}

/* Reads into rbuf; or, mid-payload with rbuf empty, straight into the
 * message. Returns 1 after reading, 0 when nothing is ready, -1 at the end. */
static int read_some(conn_t *c) {
  for (;;) {
    ssize_t n;
    int direct = c->in_frame && c->rpos == c->rlen && c->left > 0;
    if (direct) {
      n = recv(c->fd, c->rx + c->rxlen, (size_t)c->left, 0);
    } else {
      if (c->rpos > 0 && c->rlen - c->rpos < 4096) { /* keep room for a large read */
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
      }
      if (c->rlen == RBUF_SIZE) return 0; /* cannot happen: parsing makes room */
      n = recv(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen, 0);
    }
    if (n > 0) {
      if (direct) {
        c->rxlen += (size_t)n;
        c->left -= (uint64_t)n;
        if (!c->left) end_of_payload(c);
      } else {
        c->rlen += (size_t)n;
      }
      return 1;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    on_eof(c, n < 0 ? errno : 0);
    return -1;
  }
}

static void finish_upgrade(conn_t *c) {
  size_t hl = httphead_length((const char *)c->rbuf, c->rlen);
  if (!hl) {
    if (c->rlen >= HEAD_MAX || (c->rlen >= 5 && memcmp(c->rbuf, "HTTP/", 5) != 0)) {
      set_error(c, E_PROTO, "the answer to the websocket upgrade is not HTTP%s", "");
      shut(c);
    }
    return;
  }
  const char *head = (const char *)c->rbuf, *v;
  size_t vl;
  int status = httphead_status(head, hl);
  char detail[160];
  if (status != 101) {
    const char *eol = memchr(head, '\r', hl);
    int n = eol ? (int)(eol - head) : 0;
    snprintf(detail, sizeof detail, "%.*s", n > 120 ? 120 : n, head);
    set_error(c, E_PROTO,
              status < 0 ? "the answer to the websocket upgrade is not HTTP (%s)"
                         : "the inspector refused the websocket handshake (%s)",
              detail);
    shut(c);
    return;
  }
  char expect[29];
  wskey_accept(c->key, expect);
  const char *bad = NULL;
  if (!httphead_header(head, hl, "Upgrade", &v, &vl) || !httphead_has_token(v, vl, "websocket"))
    bad = "no Upgrade: websocket";
  else if (!httphead_header(head, hl, "Connection", &v, &vl) ||
           !httphead_has_token(v, vl, "upgrade"))
    bad = "no Connection: upgrade";
  else if (!httphead_header(head, hl, "Sec-WebSocket-Accept", &v, &vl) || vl != 28 ||
           memcmp(v, expect, 28) != 0)
    bad = "a wrong Sec-WebSocket-Accept";
  else if (httphead_header(head, hl, "Sec-WebSocket-Extensions", &v, &vl))
    bad = "an extension nobody asked for";
  if (bad) {
    set_error(c, E_PROTO, "the inspector's websocket handshake answer is invalid (%s)", bad);
    shut(c);
    return;
  }
  c->rpos = hl; /* what follows the head is already websocket data */
  c->state = ST_OPEN;
  c->upgraded = 1;
}

/* Everything that can be done now without waiting. */
static void pump(conn_t *c) {
  if (c->state == ST_CONNECTING) {
    if (!(core_wait_fd(c->fd, POLLOUT, 0) & (POLLOUT | POLLERR | POLLHUP))) return;
    int err = tcp_result(c->fd);
    if (err) {
      set_error(c, core_errno_code(err), "%s", strerror(err));
      shut(c);
      return;
    }
    c->state = ST_UPGRADING;
  }
  flush_out(c);
  for (int i = 0; i < READS_PER_PUMP && c->state == ST_UPGRADING; i++) {
    if (read_some(c) <= 0) break;
    finish_upgrade(c);
  }
  if (c->state == ST_OPEN) {
    parse_frames(c); /* what came with the upgrade answer */
    flush_out(c);
  }
  for (int i = 0; i < READS_PER_PUMP && c->state == ST_OPEN && !c->in_head; i++) {
    if (read_some(c) <= 0) break;
    parse_frames(c);
  }
  flush_out(c);
}

static int wants_write(const conn_t *c) {
  if (c->fd < 0) return 0;
  if (c->state == ST_CONNECTING) return 1;
  if (c->state == ST_UPGRADING) return c->req != NULL;
  return c->out_head != NULL;
}

/* Runs the connection for up to `timeout` seconds; returns early once a
 * message is queued or the state changes. */
static void service(conn_t *c, double timeout) {
  double deadline = core_now() + timeout;
  int state0 = c->state;
  for (;;) {
    pump(c);
    if (c->state != state0 || c->in_head || c->fd < 0) return;
    double left = deadline - core_now();
    if (left <= 0) return;
    int ev = c->state == ST_CONNECTING ? POLLOUT : POLLIN | (wants_write(c) ? POLLOUT : 0);
    core_wait_fd(c->fd, ev, left);
    if (core_signal) return; /* Lua unwinds */
  }
}

static void destroy(conn_t *c) {
  if (!c) return;
  if (c->state == ST_OPEN) { /* best effort, never waits */
    send_close(c, 1000);
    flush_out(c);
  }
  shut(c);
  if (c->sink.active) {
    char err[64];
    sink_finish(&c->sink, NULL, 0, err, sizeof err);
  }
  free_queue(&c->in_head, &c->in_tail);
  free_queue(&c->out_head, &c->out_tail);
  free(c->req);
  free(c->rbuf);
  free(c->rx);
  free(c);
}

/* ------------------------------------------------------------------ Lua */

static conn_t *check_conn(lua_State *L) {
  conn_ud *u = luaL_checkudata(L, 1, CONN_MT);
  return u->c;
}

static conn_t *open_conn(lua_State *L) {
  conn_t *c = check_conn(L);
  if (!c) luaL_error(L, "connection is closed");
  return c;
}

/* core.wsOpen(address, port, path, {maxMessage=, hostHeader=}) -> conn | nil, msg, code
 * address: an IP literal (the Lua side resolves names and checks loopback). */
static int l_ws_open(lua_State *L) {
  const char *addr = luaL_checkstring(L, 1);
  lua_Integer port = luaL_checkinteger(L, 2);
  const char *path = luaL_checkstring(L, 3);
  size_t max_message = 512u * 1024 * 1024;
  const char *hosthdr = NULL;
  if (lua_istable(L, 4)) {
    lua_getfield(L, 4, "maxMessage");
    if (!lua_isnil(L, -1)) {
      lua_Number mm = luaL_checknumber(L, -1);
      luaL_argcheck(L, mm >= 1 && mm < 4294967296.0 * 1024, 4, "maxMessage out of range");
      max_message = (size_t)mm;
    }
    lua_getfield(L, 4, "hostHeader");
    hosthdr = lua_tostring(L, -1);
    lua_pop(L, 2);
  }
  luaL_argcheck(L, port > 0 && port < 65536, 2, "port out of range");
  luaL_argcheck(L, tcp_family(addr) != 0, 1, "not an IP address literal");
  if (path[0] != '/' || strlen(path) >= sizeof((conn_t *)0)->path || !httphead_clean(path) ||
      (hosthdr && (strlen(hosthdr) >= sizeof((conn_t *)0)->hosthdr || !httphead_clean(hosthdr))))
    return core_push_error(L,
                           "refusing a websocket path or host with control characters, spaces "
                           "or too many characters",
                           E_PROTO);

  conn_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->c = NULL;
  luaL_setmetatable(L, CONN_MT);
  conn_t *c = calloc(1, sizeof *c);
  if (!c) return luaL_error(L, "out of memory");
  u->c = c;
  c->fd = -1;
  c->sink.out.fd = -1;
  c->max_message = max_message;
  c->port = (int)port;
  snprintf(c->addr, sizeof c->addr, "%s", addr);
  snprintf(c->path, sizeof c->path, "%s", path);
  if (hosthdr)
    snprintf(c->hosthdr, sizeof c->hosthdr, "%s", hosthdr);
  else if (tcp_family(addr) == 6)
    snprintf(c->hosthdr, sizeof c->hosthdr, "[%s]:%d", addr, c->port);
  else
    snprintf(c->hosthdr, sizeof c->hosthdr, "%s:%d", addr, c->port);
  c->rbuf = malloc(RBUF_SIZE);
  if (!c->rbuf) return luaL_error(L, "out of memory");
  wskey_make(c->key);
  /* No Origin: Chromium answers 403 to any. */
  size_t cap = strlen(c->path) + strlen(c->hosthdr) + 200;
  c->req = malloc(cap);
  if (!c->req) return luaL_error(L, "out of memory");
  c->reqlen = (size_t)snprintf(c->req, cap,
                               "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                               "Sec-WebSocket-Version: 13\r\n\r\n",
                               c->path, c->hosthdr, c->key);
  int err;
  c->fd = tcp_start(addr, c->port, &err);
  if (c->fd < 0) {
    set_error(c, core_errno_code(err), "%s", strerror(err));
    c->state = ST_CLOSED;
  } else {
    c->state = ST_CONNECTING;
  }
  return 1;
}

/* conn:service(seconds) -> state */
static int l_service(lua_State *L) {
  conn_t *c = open_conn(L);
  double t = luaL_optnumber(L, 2, 0);
  service(c, t < 0 ? 0 : t);
  lua_pushstring(L, state_names[c->state]);
  return 1;
}

static int l_state(lua_State *L) {
  conn_t *c = check_conn(L);
  lua_pushstring(L, c ? state_names[c->state] : "closed");
  return 1;
}

/* conn:phase() -> "TCP connect" | "websocket upgrade" | "open" | "closed" */
static int l_phase(lua_State *L) {
  conn_t *c = check_conn(L);
  lua_pushstring(L, c ? phase_names[c->state] : "closed");
  return 1;
}

/* conn:upgraded() -> whether the websocket handshake succeeded (a runtime
 * that refuses a second client, like wrangler's proxy, closes right after it) */
static int l_upgraded(lua_State *L) {
  conn_t *c = check_conn(L);
  lua_pushboolean(L, c && c->upgraded);
  return 1;
}

/* conn:send(text) -> true | nil, msg, code: one text frame, sent once open */
static int l_send(lua_State *L) {
  conn_t *c = open_conn(L);
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  if (c->state == ST_CLOSED || c->close_sent)
    return core_push_error(L, "the connection is closed", E_CLOSED);
  if (queue_frame(c, WS_TEXT, text, len) != 0) return luaL_error(L, "out of memory");
  flush_out(c);
  lua_pushboolean(L, 1);
  return 1;
}

/* conn:recv() -> next received message text, or nil */
static int l_recv(lua_State *L) {
  conn_t *c = open_conn(L);
  msg_t *m = c->in_head;
  if (!m) return 0;
  c->in_head = m->next;
  if (!c->in_head) c->in_tail = NULL;
  lua_pushlstring(L, m->text, m->len);
  free(m->text);
  free(m);
  return 1;
}

/* conn:error() -> message, code, closeCode, closeReason (why it closed) */
static int l_error(lua_State *L) {
  conn_t *c = open_conn(L);
  if (c->err[0])
    lua_pushstring(L, c->err);
  else
    lua_pushnil(L);
  if (c->errcode)
    lua_pushstring(L, c->errcode);
  else
    lua_pushnil(L);
  if (c->close_code)
    lua_pushinteger(L, c->close_code);
  else
    lua_pushnil(L);
  lua_pushstring(L, c->close_reason);
  return 4;
}

static int l_fd(lua_State *L) {
  conn_t *c = check_conn(L);
  if (!c || c->fd < 0) return 0;
  lua_pushinteger(L, c->fd);
  return 1;
}

/* conn:wantsWrite() -> whether a poller should also wait for writability */
static int l_wants_write(lua_State *L) {
  conn_t *c = check_conn(L);
  lua_pushboolean(L, c && wants_write(c));
  return 1;
}

/* An attached session's id goes into the sink's prefix as it is: the
 * characters runtimes use (hex, digits, dashes) and nothing JSON escapes. */
static const char *route_id(lua_State *L, int idx, const char *name) {
  const char *v = lua_tostring(L, idx);
  if (!v) return NULL;
  size_t n = strlen(v);
  if (n == 0 || n > 100 ||
      strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != n)
    luaL_error(L, "sinkStart: %s must be 1 to 100 letters, digits, '-', '_' or '.'", name);
  return v;
}

/* conn:sinkStart{path=, method=, field=[, sessionId= | worker=]} or {path=, replyId=, field=};
 * sessionId: an attached (flat) session's chunks; worker: a NodeWorker session's;
 * sinkFinish replaces an existing regular file only when memdbg marked it,
 * any with force = true, none with noClobber = true. */
static int l_sink_start(lua_State *L) {
  conn_t *c = open_conn(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_getfield(L, 2, "path");
  lua_getfield(L, 2, "method");
  lua_getfield(L, 2, "replyId");
  lua_getfield(L, 2, "field");
  lua_getfield(L, 2, "sessionId");
  lua_getfield(L, 2, "worker");
  const char *path = luaL_checkstring(L, -6);
  const char *method = lua_tostring(L, -5);
  long long reply_id = lua_isnil(L, -4) ? -1 : (long long)luaL_checknumber(L, -4);
  const char *field = luaL_checkstring(L, -3);
  sink_route_t route = {route_id(L, -2, "sessionId"), route_id(L, -1, "worker")};
  if (c->sink.active) return luaL_error(L, "a snapshot is already streaming on this connection");
  if (!method && reply_id < 0) return luaL_error(L, "sinkStart needs method or replyId");
  if (route.session && route.worker)
    return luaL_error(L, "sinkStart: sessionId or worker, not both");
  int clobber = clobber_of(L, 2);
  char err[512];
  if (sink_open(&c->sink, path, method, reply_id, field, &route, err, sizeof err) != 0)
    return core_push_error(L, err, E_IO);
  c->sink.clobber = clobber;
  lua_pushboolean(L, 1);
  return 1;
}

/* conn:sinkStatus() -> bytes, chunks, errmsg, errcode */
static int l_sink_status(lua_State *L) {
  conn_t *c = open_conn(L);
  lua_pushinteger(L, (lua_Integer)c->sink.bytes);
  lua_pushinteger(L, (lua_Integer)c->sink.chunks);
  if (c->sink.err[0]) {
    lua_pushstring(L, c->sink.err);
    lua_pushstring(L, c->sink.errcode);
    return 4;
  }
  return 2;
}

/* conn:sinkFinish(finalPath|nil, keepPartial) -> bytes | nil, msg, code;
 * sinkFinish(nil, true) -> bytes, keptPath (nil when nothing was kept) */
static int l_sink_finish(lua_State *L) {
  conn_t *c = open_conn(L);
  const char *final_path = luaL_optstring(L, 2, NULL);
  int keep = lua_toboolean(L, 3);
  if (!c->sink.active) return luaL_error(L, "no snapshot is streaming");
  long long bytes = c->sink.bytes;
  char err[600] = "";
  if (c->sink.err[0] && final_path) {
    snprintf(err, sizeof err, "%s", c->sink.err);
    const char *code = c->sink.errcode;
    sink_finish(&c->sink, NULL, keep, err + strlen(err), 0);
    return core_push_error(L, err, code);
  }
  if (sink_finish(&c->sink, final_path, keep, err, sizeof err) != 0)
    return core_push_error(L, err, c->sink.errcode ? c->sink.errcode : E_IO);
  lua_pushinteger(L, (lua_Integer)bytes);
  if (!final_path && c->sink.kept[0]) {
    lua_pushstring(L, c->sink.kept);
    return 2;
  }
  return 1;
}

/* conn:close([noWait]): the close handshake when open (at most 0.5 s, the
 * runtime's data meanwhile read and dropped), then teardown. Safe to call
 * twice; also __gc and __close. */
static int l_close(lua_State *L) {
  conn_ud *u = luaL_checkudata(L, 1, CONN_MT);
  conn_t *c = u->c;
  if (!c) return 0;
  u->c = NULL;
  free_queue(&c->in_head, &c->in_tail); /* nobody can read them now */
  if (c->state == ST_OPEN && !lua_toboolean(L, 2)) {
    c->discard = 1;
    send_close(c, 1000);
    double deadline = core_now() + 0.5;
    while (c->state == ST_OPEN && !c->close_received && core_now() < deadline)
      service(c, deadline - core_now());
  }
  destroy(c);
  return 0;
}

static int l_gc(lua_State *L) {
  lua_settop(L, 1);
  lua_pushboolean(L, 1); /* no waiting in a finalizer */
  return l_close(L);
}

static int l_tostring(lua_State *L) {
  conn_t *c = check_conn(L);
  if (c)
    lua_pushfstring(L, "memdbg.core.conn{%s ws://%s%s}", state_names[c->state], c->hosthdr,
                    c->path);
  else
    lua_pushstring(L, "memdbg.core.conn{closed}");
  return 1;
}

void ws_register(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"service", l_service},
      {"state", l_state},
      {"phase", l_phase},
      {"upgraded", l_upgraded},
      {"send", l_send},
      {"recv", l_recv},
      {"error", l_error},
      {"fd", l_fd},
      {"wantsWrite", l_wants_write},
      {"sinkStart", l_sink_start},
      {"sinkStatus", l_sink_status},
      {"sinkFinish", l_sink_finish},
      {"close", l_close},
      {NULL, NULL},
  };
  if (luaL_newmetatable(L, CONN_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, l_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_ws_open);
  lua_setfield(L, -2, "wsOpen");
}
