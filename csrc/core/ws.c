/* One websocket to an inspector target, on its own libwebsockets context.
 * Callbacks only move bytes into C queues; Lua drains them after
 * lws_service() returns (never call into Lua from a libwebsockets callback). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "core/core.h"

#define CONN_MT "memdbg.core.conn"

enum { ST_CONNECTING, ST_OPEN, ST_CLOSED };
static const char *state_names[] = {"connecting", "open", "closed"};

typedef struct msg {
  struct msg *next;
  size_t len;
  char *text; /* malloc'd; for outgoing, LWS_PRE bytes precede the text */
} msg_t;

typedef struct conn {
  struct lws_context *ctx;
  struct lws *wsi;
  int state;
  int close_requested;
  char *rx; /* the message being reassembled */
  size_t rxlen, rxcap, max_message;
  msg_t *in_head, *in_tail; /* received, waiting for Lua */
  msg_t *out_head, *out_tail; /* to send, one per writeable callback */
  int close_code;
  char close_reason[124];
  char err[320];
  const char *errcode;
  char host[256], path[1024], hosthdr[300];
  int port;
  sink_t sink;
} conn_t;

typedef struct {
  conn_t *c;
} conn_ud;

static void push_msg(msg_t **head, msg_t **tail, msg_t *m) {
  m->next = NULL;
  if (*tail) (*tail)->next = m;
  else *head = m;
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

static void deliver(conn_t *c) {
  char *replacement = NULL;
  if (c->sink.active && sink_offer(&c->sink, c->rx, c->rxlen, &replacement)) {
    c->rxlen = 0;
    if (!replacement) return;
    msg_t *m = malloc(sizeof *m);
    if (!m) { free(replacement); return; }
    m->text = replacement;
    m->len = strlen(replacement);
    push_msg(&c->in_head, &c->in_tail, m);
    return;
  }
  msg_t *m = malloc(sizeof *m);
  if (!m) {
    set_error(c, E_PROTO, "out of memory receiving a message%s", "");
    return;
  }
  /* hand the buffer itself to the queue: no copy of a large message */
  m->text = c->rx;
  m->len = c->rxlen;
  push_msg(&c->in_head, &c->in_tail, m);
  c->rx = NULL;
  c->rxlen = c->rxcap = 0;
}

static int append_rx(conn_t *c, const char *in, size_t len) {
  if (c->rxlen + len > c->max_message) {
    char detail[64];
    snprintf(detail, sizeof detail, "%zu", c->max_message);
    set_error(c, E_PROTO, "the runtime sent a message larger than the %s-byte cap (maxMessage)",
              detail);
    return -1;
  }
  if (c->rxlen + len + 1 > c->rxcap) {
    size_t cap = c->rxcap ? c->rxcap : 65536;
    while (cap < c->rxlen + len + 1) cap *= 2;
    if (cap > c->max_message + 1) cap = c->max_message + 1;
    char *p = realloc(c->rx, cap);
    if (!p) {
      set_error(c, E_PROTO, "out of memory receiving a message%s", "");
      return -1;
    }
    c->rx = p, c->rxcap = cap;
  }
  memcpy(c->rx + c->rxlen, in, len);
  c->rxlen += len;
  c->rx[c->rxlen] = '\0';
  return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len) {
  struct lws_context *ctx = lws_get_context(wsi);
  conn_t *c = ctx ? lws_context_user(ctx) : NULL;
  if (!c) return 0;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    c->state = ST_OPEN;
    if (c->out_head) lws_callback_on_writable(wsi);
    break;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
    const char *why = in ? (const char *)in : "connection failed";
    if (strstr(why, "101") || strstr(why, "HS:") || strstr(why, "upgrade"))
      set_error(c, E_PROTO, "the inspector refused the websocket handshake (%s)", why);
    else
      set_error(c, E_CLOSED, "the websocket connection failed (%s)", why);
    c->state = ST_CLOSED;
    c->wsi = NULL;
    break;
  }
  case LWS_CALLBACK_CLIENT_RECEIVE:
    if (append_rx(c, in, len) != 0) return -1;
    if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) deliver(c);
    break;
  case LWS_CALLBACK_CLIENT_WRITEABLE: {
    msg_t *m = c->out_head;
    if (m) {
      c->out_head = m->next;
      if (!c->out_head) c->out_tail = NULL;
      int w = lws_write(wsi, (unsigned char *)m->text + LWS_PRE, m->len, LWS_WRITE_TEXT);
      free(m->text);
      free(m);
      if (w < 0) {
        set_error(c, E_CLOSED, "writing to the websocket failed%s", "");
        return -1;
      }
      if (c->out_head) lws_callback_on_writable(wsi);
    } else if (c->close_requested) {
      lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
      return -1;
    }
    break;
  }
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    if (len >= 2) {
      const unsigned char *p = in;
      c->close_code = (p[0] << 8) | p[1];
      size_t rl = len - 2 < sizeof c->close_reason - 1 ? len - 2 : sizeof c->close_reason - 1;
      memcpy(c->close_reason, p + 2, rl);
      c->close_reason[rl] = '\0';
    } else {
      c->close_code = 1005; /* no status received */
    }
    break;
  case LWS_CALLBACK_CLIENT_CLOSED:
  case LWS_CALLBACK_WSI_DESTROY:
    if (c->wsi == wsi || reason == LWS_CALLBACK_CLIENT_CLOSED) {
      c->state = ST_CLOSED;
      c->wsi = NULL;
    }
    break;
  default:
    break;
  }
  return 0;
}

static const struct lws_protocols protocols[] = {
    {"memdbg-cdp", callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static conn_t *check_conn(lua_State *L) {
  conn_ud *u = luaL_checkudata(L, 1, CONN_MT);
  return u->c;
}

static conn_t *open_conn(lua_State *L) {
  conn_t *c = check_conn(L);
  if (!c) luaL_error(L, "connection is closed");
  return c;
}

static void destroy(conn_t *c) {
  if (!c) return;
  if (c->ctx) lws_context_destroy(c->ctx);
  c->ctx = NULL;
  if (c->sink.active) {
    char err[64];
    sink_finish(&c->sink, NULL, 0, err, sizeof err);
  }
  free_queue(&c->in_head, &c->in_tail);
  free_queue(&c->out_head, &c->out_tail);
  free(c->rx);
  free(c);
}

/* core.ws_open(host, port, path, {maxMessage=, hostHeader=}) -> conn */
static int l_ws_open(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  int port = (int)luaL_checkinteger(L, 2);
  const char *path = luaL_checkstring(L, 3);
  size_t max_message = 512u * 1024 * 1024;
  const char *hosthdr = NULL;
  if (lua_istable(L, 4)) {
    lua_getfield(L, 4, "maxMessage");
    if (!lua_isnil(L, -1)) max_message = (size_t)luaL_checknumber(L, -1);
    lua_getfield(L, 4, "hostHeader");
    hosthdr = lua_tostring(L, -1);
    lua_pop(L, 2);
  }
  luaL_argcheck(L, port > 0 && port < 65536, 2, "port out of range");
  luaL_argcheck(L, strlen(host) < 255 && strlen(path) < 1023, 1, "host or path too long");

  conn_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->c = NULL;
  luaL_setmetatable(L, CONN_MT);
  conn_t *c = calloc(1, sizeof *c);
  if (!c) return luaL_error(L, "out of memory");
  u->c = c;
  c->max_message = max_message;
  c->port = port;
  c->sink.fd = -1;
  snprintf(c->host, sizeof c->host, "%s", host);
  snprintf(c->path, sizeof c->path, "%s", path);
  if (hosthdr) snprintf(c->hosthdr, sizeof c->hosthdr, "%s", hosthdr);
  else snprintf(c->hosthdr, sizeof c->hosthdr, "%s:%d", host, port);

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.user = c;
  info.gid = -1;
  info.uid = -1;
  info.options = LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
  c->ctx = lws_create_context(&info);
  if (!c->ctx) return core_push_error(L, "could not create a libwebsockets context", E_PROTO);

  struct lws_client_connect_info ci;
  memset(&ci, 0, sizeof ci);
  ci.context = c->ctx;
  ci.address = c->host;
  ci.port = port;
  ci.path = c->path;
  ci.host = c->hosthdr;
  ci.origin = NULL; /* Chromium answers 403 to any Origin */
  ci.protocol = NULL;
  ci.local_protocol_name = protocols[0].name;
  ci.ietf_version_or_minus_one = -1;
  ci.pwsi = &c->wsi;
  c->state = ST_CONNECTING;
  if (!lws_client_connect_via_info(&ci) && c->state != ST_CLOSED) {
    set_error(c, E_CLOSED, "could not start the websocket connection%s", "");
    c->state = ST_CLOSED;
  }
  return 1;
}

/* Runs libwebsockets for up to `timeout` seconds (0: only what is ready now). */
static void service(conn_t *c, double timeout) {
  double deadline = core_now() + timeout;
  int state0 = c->state;
  for (;;) {
    if (c->ctx) lws_service(c->ctx, -1);
    if (c->state != state0 || c->in_head) return;
    double left = deadline - core_now();
    if (left <= 0 || !c->ctx) return;
    /* lws may hold buffered work that no fd readiness would show */
    if (lws_service_adjust_timeout(c->ctx, 1, 0) == 0) continue;
    int fd = c->wsi ? lws_get_socket_fd(c->wsi) : -1;
    int ms = (int)(left * 1000) + 1;
    if (ms > 100) ms = 100; /* keep libwebsockets' own timers turning */
    if (fd >= 0) {
      struct pollfd p = {fd, POLLIN, 0};
      if (c->out_head || lws_partial_buffered(c->wsi)) p.events |= POLLOUT;
      poll(&p, 1, ms);
    } else {
      poll(NULL, 0, ms < 10 ? ms : 10);
    }
  }
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

/* conn:send(text) -> true | nil, msg, code */
static int l_send(lua_State *L) {
  conn_t *c = open_conn(L);
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  if (c->state == ST_CLOSED) return core_push_error(L, "the connection is closed", E_CLOSED);
  msg_t *m = malloc(sizeof *m);
  char *buf = malloc(LWS_PRE + len + 1);
  if (!m || !buf) {
    free(m);
    free(buf);
    return luaL_error(L, "out of memory");
  }
  memcpy(buf + LWS_PRE, text, len);
  m->text = buf;
  m->len = len;
  push_msg(&c->out_head, &c->out_tail, m);
  if (c->state == ST_OPEN && c->wsi) lws_callback_on_writable(c->wsi);
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
  if (c->err[0]) lua_pushstring(L, c->err);
  else lua_pushnil(L);
  if (c->errcode) lua_pushstring(L, c->errcode);
  else lua_pushnil(L);
  if (c->close_code) lua_pushinteger(L, c->close_code);
  else lua_pushnil(L);
  lua_pushstring(L, c->close_reason);
  return 4;
}

static int l_fd(lua_State *L) {
  conn_t *c = check_conn(L);
  int fd = c && c->wsi ? lws_get_socket_fd(c->wsi) : -1;
  if (fd < 0) return 0;
  lua_pushinteger(L, fd);
  return 1;
}

/* conn:wantsWrite() -> whether a poller should also wait for writability */
static int l_wants_write(lua_State *L) {
  conn_t *c = check_conn(L);
  lua_pushboolean(L, c && c->wsi && (c->out_head || lws_partial_buffered(c->wsi)));
  return 1;
}

/* conn:sinkStart{path=, method=, field=} or {path=, replyId=, field=} */
static int l_sink_start(lua_State *L) {
  conn_t *c = open_conn(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_getfield(L, 2, "path");
  lua_getfield(L, 2, "method");
  lua_getfield(L, 2, "replyId");
  lua_getfield(L, 2, "field");
  const char *path = luaL_checkstring(L, -4);
  const char *method = lua_tostring(L, -3);
  long long reply_id = lua_isnil(L, -2) ? -1 : (long long)luaL_checknumber(L, -2);
  const char *field = luaL_checkstring(L, -1);
  if (c->sink.active) return luaL_error(L, "a snapshot is already streaming on this connection");
  if (!method && reply_id < 0) return luaL_error(L, "sinkStart needs method or replyId");
  char err[512];
  if (sink_open(&c->sink, path, method, reply_id, field, err, sizeof err) != 0)
    return core_push_error(L, err, E_IO);
  lua_pushboolean(L, 1);
  return 1;
}

/* conn:sinkStatus() -> bytes, chunks, errmsg, errcode */
static int l_sink_status(lua_State *L) {
  conn_t *c = open_conn(L);
  lua_pushnumber(L, (lua_Number)c->sink.bytes);
  lua_pushnumber(L, (lua_Number)c->sink.chunks);
  if (c->sink.err[0]) {
    lua_pushstring(L, c->sink.err);
    lua_pushstring(L, c->sink.errcode);
    return 4;
  }
  return 2;
}

/* conn:sinkFinish(finalPath|nil, keepPartial) -> bytes | nil, msg, code */
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
    return core_push_error(L, err, E_IO);
  lua_pushnumber(L, (lua_Number)bytes);
  return 1;
}

/* conn:close(): a clean close frame when the socket is open, then teardown.
 * Safe to call twice; also __gc and __close. */
static int l_close(lua_State *L) {
  conn_ud *u = luaL_checkudata(L, 1, CONN_MT);
  conn_t *c = u->c;
  if (!c) return 0;
  u->c = NULL;
  if (c->state == ST_OPEN && c->wsi && !lua_toboolean(L, 2)) {
    c->close_requested = 1;
    lws_callback_on_writable(c->wsi);
    double deadline = core_now() + 0.5;
    while (c->state != ST_CLOSED && core_now() < deadline) service(c, 0.05);
  }
  destroy(c);
  return 0;
}

static int l_gc(lua_State *L) {
  lua_pushboolean(L, 1); /* no waiting for a close handshake in a finalizer */
  return l_close(L);
}

static int l_tostring(lua_State *L) {
  conn_t *c = check_conn(L);
  if (c)
    lua_pushfstring(L, "memdbg.core.conn{%s ws://%s:%d%s}", state_names[c->state], c->host,
                    c->port, c->path);
  else
    lua_pushstring(L, "memdbg.core.conn{closed}");
  return 1;
}

void ws_register(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"service", l_service}, {"state", l_state},
      {"send", l_send},       {"recv", l_recv},
      {"error", l_error},     {"fd", l_fd},
      {"wantsWrite", l_wants_write}, {"sinkStart", l_sink_start},
      {"sinkStatus", l_sink_status}, {"sinkFinish", l_sink_finish},
      {"close", l_close},     {NULL, NULL},
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
