/* HTTP GET for target discovery (/json/list, /json/version) on a short-lived
 * libwebsockets context of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#include "core/core.h"

#define MAX_BODY (16u * 1024 * 1024)

typedef struct {
  int done, status;
  char *body;
  size_t len, cap;
  char err[256];
} http_req;

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len) {
  struct lws_context *ctx = lws_get_context(wsi);
  http_req *r = ctx ? lws_context_user(ctx) : NULL;
  if (!r) return 0;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    snprintf(r->err, sizeof r->err, "%s", in ? (const char *)in : "connection failed");
    r->done = 1;
    break;
  case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
    r->status = (int)lws_http_client_http_response(wsi);
    break;
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
    if (r->len + len > MAX_BODY) {
      snprintf(r->err, sizeof r->err, "response larger than %u bytes", MAX_BODY);
      r->done = 1;
      return -1;
    }
    if (r->len + len + 1 > r->cap) {
      size_t cap = r->cap ? r->cap * 2 : 8192;
      while (cap < r->len + len + 1) cap *= 2;
      char *p = realloc(r->body, cap);
      if (!p) return -1;
      r->body = p, r->cap = cap;
    }
    memcpy(r->body + r->len, in, len);
    r->len += len;
    break;
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
    char buffer[4096 + LWS_PRE];
    char *px = buffer + LWS_PRE;
    int lenx = sizeof(buffer) - LWS_PRE;
    if (lws_http_client_read(wsi, &px, &lenx) < 0) return -1;
    break;
  }
  case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
  case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
    r->done = 1;
    break;
  default:
    break;
  }
  return 0;
}

static const struct lws_protocols http_protocols[] = {
    {"memdbg-http", http_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* core.httpGet(host, port, path, timeout[, hostHeader]) -> status, body | nil, msg, code */
int l_http_get(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  int port = (int)luaL_checkinteger(L, 2);
  const char *path = luaL_checkstring(L, 3);
  double timeout = luaL_optnumber(L, 4, 10);
  char defhost[300];
  snprintf(defhost, sizeof defhost, "%s:%d", host, port); /* Node builds ws URLs from Host */
  const char *hosthdr = luaL_optstring(L, 5, defhost);
  char err[300];
  const char *code = NULL;
  if (net_probe(host, port, timeout, err, sizeof err, &code) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    lua_pushstring(L, code);
    return 3;
  }

  http_req r;
  memset(&r, 0, sizeof r);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = http_protocols;
  info.user = &r;
  info.gid = -1;
  info.uid = -1;
  struct lws_context *ctx = lws_create_context(&info);
  if (!ctx) return core_push_error(L, "could not create a libwebsockets context", E_PROTO);

  struct lws_client_connect_info ci;
  struct lws *wsi = NULL;
  memset(&ci, 0, sizeof ci);
  ci.context = ctx;
  ci.address = host;
  ci.port = port;
  ci.path = path;
  ci.host = hosthdr;
  ci.origin = NULL;
  ci.method = "GET";
  ci.protocol = http_protocols[0].name;
  ci.pwsi = &wsi;
  lws_client_connect_via_info(&ci);
  double deadline = core_now() + timeout;
  int timed_out = 0;
  while (!r.done) {
    if (core_now() > deadline) {
      timed_out = 1;
      break;
    }
    lws_service(ctx, -1);
    if (!r.done && lws_service_adjust_timeout(ctx, 1, 0) != 0) {
      struct timespec ts = {0, 2 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  lws_context_destroy(ctx);
  if (timed_out) {
    free(r.body);
    snprintf(err, sizeof err, "no HTTP answer within %g s", timeout);
    return core_push_error(L, err, E_TIMEDOUT);
  }
  if (r.err[0] && r.status == 0) {
    free(r.body);
    return core_push_error(L, r.err, E_PROTO);
  }
  lua_pushinteger(L, r.status);
  lua_pushlstring(L, r.body ? r.body : "", r.len);
  free(r.body);
  return 2;
}
