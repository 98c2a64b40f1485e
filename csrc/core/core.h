/* memdbg.core: the private C transport under the Lua facade (lua/memdbg/).
 * It moves bytes: HTTP discovery, one websocket per session, a queue of
 * received messages for Lua, and a file sink that writes heap snapshot
 * chunks to disk without handing them to Lua. Protocol logic lives in Lua. */
#ifndef MEMDBG_CORE_H
#define MEMDBG_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"

/* Error codes at the Lua surface (documented in README.md). */
#define E_CONNREFUSED "ECONNREFUSED"
#define E_TIMEDOUT "ETIMEDOUT"
#define E_CLOSED "ECLOSED"
#define E_PROTO "EPROTO"
#define E_NOTFOUND "ENOTFOUND"
#define E_IO "EIO"

/* module.c */
double core_now(void);
int core_push_error(lua_State *L, const char *msg, const char *code);
const char *core_last_lws_log(void);

/* netprobe.c: a plain TCP connect with a deadline, so a refused or
 * unreachable endpoint is named by its errno before libwebsockets runs. */
int net_probe(const char *host, int port, double timeout, char *err, size_t errlen,
              const char **code);

/* jsonscan.c: just enough JSON to route messages without decoding them. */
/* Finds member `key` of the object whose '{' is at p. Returns the start of its
 * value (and its end in *vend), or NULL. */
const char *js_member(const char *p, const char *end, const char *key, const char **vend);
/* Skips whitespace. */
const char *js_ws(const char *p, const char *end);
/* Skips one JSON value starting at p; NULL when malformed or cut short. */
const char *js_skip(const char *p, const char *end);
/* Decodes a JSON string body (between the quotes) in place; returns the new
 * length, or -1 on a bad escape. */
long js_unescape(char *s, size_t len);
/* Parses an integer value at p; returns 1 when it is one. */
int js_int(const char *p, const char *end, long long *out);

/* sink.c: a snapshot stream written to PATH.partial, renamed on success. */
typedef struct sink {
  int active;
  int fd;
  char *path;         /* the partial file being written */
  char *method;       /* event whose params.<field> is a chunk, or NULL */
  long long reply_id; /* or: the reply whose result.<field> is the whole data */
  char *field;
  long long bytes;
  long long synced; /* writeback started up to here */
  long long chunks;
  char err[256];
  const char *errcode;
} sink_t;

int sink_open(sink_t *s, const char *path, const char *method, long long reply_id,
              const char *field, char *err, size_t errlen);
/* Offers a received message to the sink. Returns 1 when the sink consumed it
 * (the message is then modified in place), 0 when it is not the sink's. For a
 * consumed reply, *replacement is set to a short reply text for Lua. */
int sink_offer(sink_t *s, char *msg, size_t len, char **replacement);
/* Closes the file. With final_path, fsyncs and renames into place; without,
 * removes the partial unless keep is set. Returns 0 on success. */
int sink_finish(sink_t *s, const char *final_path, int keep, char *err, size_t errlen);

/* ws.c / http.c register their Lua functions. */
void ws_register(lua_State *L);
int l_http_get(lua_State *L);

#endif
