/* The snapshot sink: chunks of a heap snapshot go from the websocket buffer
 * straight to a new private file (mode 0600: snapshots hold secrets; see
 * files.c for how it is created and put in place), decoded in place, so the
 * client's memory stays flat whatever the snapshot size. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/jsonscan.h"
#include "core/sink.h"
#include "core/util.h"

#define SYNC_EVERY (16LL * 1024 * 1024)

static void sink_fail(sink_t *s, const char *code, const char *fmt, const char *detail) {
  if (s->err[0]) return; /* keep the first failure */
  snprintf(s->err, sizeof s->err, fmt, detail, s->bytes);
  s->errcode = code;
}

/* The NodeWorker wrapper a worker's messages come in (Node and Deno put
 * sessionId first and message next; Deno adds workerId after it). */
#define WORKER_WRAP                                                                                \
  "{\"method\":\"NodeWorker.receivedMessageFromWorker\",\"params\":{\"sessionId\":\""

/* The prefix a chunk event of this route begins with; 0 when out of memory. */
static int make_prefix(sink_t *s, const char *method, const char *field, const char *worker) {
  char plain[512];
  int n = snprintf(plain, sizeof plain, "{\"method\":\"%s\",\"params\":{\"%s\":\"", method, field);
  if (n < 0 || (size_t)n >= sizeof plain) return 0;
  if (!worker) {
    s->prefix = strdup(plain);
    s->prefix_len = (size_t)n;
    return s->prefix != NULL;
  }
  /* the worker's message is a JSON string: its quotes arrive escaped */
  size_t cap = sizeof WORKER_WRAP + strlen(worker) + 16 + 2 * (size_t)n;
  char *p = malloc(cap);
  if (!p) return 0;
  int w = snprintf(p, cap, "%s%s\",\"message\":\"", WORKER_WRAP, worker);
  size_t o = (size_t)w;
  for (int i = 0; i < n; i++) {
    if (plain[i] == '"') p[o++] = '\\';
    p[o++] = plain[i];
  }
  p[o] = '\0';
  s->prefix = p;
  s->prefix_len = o;
  s->wrap_len = (size_t)w;
  s->inner_len = (size_t)n;
  return 1;
}

int sink_open(sink_t *s, const char *path, const char *method, long long reply_id,
              const char *field, const sink_route_t *route, char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  if (outfile_open(&s->out, path, err, errlen) != 0) return -1;
  s->method = method ? strdup(method) : NULL;
  /* the shape every V8 runtime sends, recognised without a scan */
  if (method) (void)make_prefix(s, method, field, route ? route->worker : NULL);
  if (route && route->session) {
    s->session = strdup(route->session);
    s->session_len = strlen(route->session);
  }
  s->reply_id = reply_id;
  s->field = strdup(field);
  s->active = 1;
  return 0;
}

static void write_all(sink_t *s, const char *p, size_t n) {
  while (n > 0 && !s->err[0]) {
    ssize_t w = write(s->out.fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      sink_fail(s, E_IO, "writing the snapshot failed: %s (after %lld bytes)", strerror(errno));
      return;
    }
    p += w, n -= (size_t)w;
    s->bytes += w;
  }
  /* Start writeback as the data arrives (it does not wait), so the fsync at
   * the end has little left to do and does not stall an editor's loop. */
  if (s->bytes - s->synced >= SYNC_EVERY) {
    (void)sync_file_range(s->out.fd, s->synced, s->bytes - s->synced, SYNC_FILE_RANGE_WRITE);
    s->synced = s->bytes;
  }
}

/* Writes the string value of <container>.<field> found in the message. */
static int write_field(sink_t *s, char *msg, size_t len, const char *container) {
  const char *end = msg + len, *cend, *vend;
  const char *obj = js_member(msg, end, container, &cend);
  const char *v = obj ? js_member(obj, cend, s->field, &vend) : NULL;
  if (!v || *v != '"' || vend - v < 2) {
    sink_fail(s, E_PROTO, "malformed snapshot chunk from the runtime (%s, after %lld bytes)",
              obj ? "no string field" : "no params");
    return 0;
  }
  char *body = (char *)v + 1;
  long n = js_unescape(body, (size_t)(vend - v - 2));
  if (n < 0) {
    sink_fail(s, E_PROTO, "malformed snapshot chunk from the runtime (%s, after %lld bytes)",
              "bad escape");
    return 0;
  }
  write_all(s, body, (size_t)n);
  s->chunks++;
  return 1;
}

/* After a chunk string's closing quote: the rest of params and of the
 * message. 1: an event; 0: a reply (an "id" at the top level); -1: broken.
 * *session (may be NULL) is set when the top level has a "sessionId". */
static int rest_of_event(const char *p, const char *end, int *session) {
  if (session) *session = 0;
  for (int level = 0; level < 2; level++) {
    p = js_ws(p, end);
    while (p < end && *p == ',') {
      const char *k = js_ws(p + 1, end);
      const char *ke = k < end && *k == '"' ? js_skip(k, end) : NULL;
      if (!ke) return -1;
      if (level == 1 && ke - k == 4 && memcmp(k, "\"id\"", 4) == 0) return 0;
      if (level == 1 && session && ke - k == 11 && memcmp(k, "\"sessionId\"", 11) == 0)
        *session = 1;
      p = js_ws(ke, end);
      if (p >= end || *p != ':') return -1;
      p = js_skip(p + 1, end);
      if (!p) return -1;
      p = js_ws(p, end);
    }
    if (p >= end || *p != '}') return -1;
    p++;
  }
  return js_ws(p, end) == end ? 1 : -1;
}

/* Chromium ends an attached session's messages with ,"sessionId":"ID"}:
 * 1 and the id's span when the message ends so, else 0. */
static int tail_session(const char *msg, size_t len, const char **sid, size_t *sid_len) {
  static const char key[] = ",\"sessionId\":\"";
  const size_t klen = sizeof key - 1;
  if (len < klen + 2 || msg[len - 1] != '}' || msg[len - 2] != '"') return 0;
  const char *close = msg + len - 2, *p = close;
  while (p > msg && p[-1] != '"' && p[-1] != '\\' && close - p < 128)
    p--;
  if (p == msg || p[-1] != '"' || (size_t)(p - msg) < klen) return 0;
  if (memcmp(p - klen, key, klen) != 0) return 0;
  *sid = p;
  *sid_len = (size_t)(close - p);
  return 1;
}

/* Whether a message of that session (has: whether it names one) is this sink's. */
static int session_is_ours(const sink_t *s, int has, const char *sid, size_t sid_len) {
  if (!s->session) return !has;
  return has && sid_len == s->session_len && memcmp(sid, s->session, sid_len) == 0;
}

/* The fast path: a message that begins with the sink's prefix is decoded in
 * the same pass that finds the chunk's end. Returns 1 when consumed; 0 when
 * it is a reply after all (the chunk is then emptied in place, *len updated,
 * and the message goes on to the general route). */
static int offer_prefixed(sink_t *s, char *msg, size_t *len, int has_session) {
  char *body = msg + s->prefix_len;
  const char *end = msg + *len, *close;
  int saw_session = 0;
  long n = js_unescape_string(body, end, &close);
  int kind = n < 0 ? -1
             : (close + 3 == end && close[1] == '}' && close[2] == '}')
                 ? 1
                 : rest_of_event(close + 1, end, &saw_session);
  if (kind == 0) {
    size_t rest = (size_t)(end - close);
    memmove(body, close, rest);
    *len = s->prefix_len + rest;
    msg[*len] = '\0';
    return 0;
  }
  if (kind > 0 && saw_session != has_session) kind = -1; /* a sessionId elsewhere than last */
  if (kind < 0) {
    sink_fail(s, E_PROTO, "malformed snapshot chunk from the runtime (%s, after %lld bytes)",
              n < 0 ? "bad string" : "bad message");
    return 1;
  }
  write_all(s, body, (size_t)n);
  s->chunks++;
  return 1;
}

/* A worker's chunk: the wrapper's string is decoded in place (giving the
 * worker's own message, which begins with the plain prefix), then the chunk
 * inside it: two passes over the bytes, none of them in Lua. Always consumes
 * (the prefix names this sink's worker and method). */
static int offer_wrapped(sink_t *s, char *msg, size_t len) {
  char *inner = msg + s->wrap_len;
  const char *end = msg + len, *close, *iclose;
  long m = js_unescape_string(inner, end, &close);
  if (m < 0 || rest_of_event(close + 1, end, NULL) != 1) {
    sink_fail(s, E_PROTO, "malformed snapshot chunk from a worker (%s, after %lld bytes)",
              m < 0 ? "bad wrapper string" : "bad wrapper");
    return 1;
  }
  char *body = inner + s->inner_len;
  const char *iend = inner + m;
  long n = js_unescape_string(body, iend, &iclose);
  int kind = n < 0 ? -1
             : (iclose + 3 == iend && iclose[1] == '}' && iclose[2] == '}')
                 ? 1
                 : rest_of_event(iclose + 1, iend, NULL);
  if (kind != 1) {
    sink_fail(s, E_PROTO, "malformed snapshot chunk from a worker (%s, after %lld bytes)",
              n < 0 ? "bad string" : "bad message");
    return 1;
  }
  write_all(s, body, (size_t)n);
  s->chunks++;
  return 1;
}

/* A worker's message that names the chunk method but not in the shape of the
 * prefix: meant for this sink, so the snapshot cannot be trusted. */
static int worker_odd_chunk(sink_t *s, const char *msg, size_t len) {
  if (!s->prefix || len < s->wrap_len || memcmp(msg, s->prefix, s->wrap_len) != 0) return 0;
  size_t look = len - s->wrap_len < 200 ? len - s->wrap_len : 200;
  if (!memmem(msg + s->wrap_len, look, s->method, strlen(s->method))) return 0;
  sink_fail(s, E_PROTO, "malformed snapshot chunk from a worker (%s, after %lld bytes)",
            "unexpected shape");
  return 1;
}

int sink_offer(sink_t *s, char *msg, size_t *lenp, char **replacement) {
  if (!s->active) return 0;
  *replacement = NULL;
  if (s->method && s->prefix && *lenp >= s->prefix_len + 3 &&
      memcmp(msg, s->prefix, s->prefix_len) == 0) {
    if (s->wrap_len) return offer_wrapped(s, msg, *lenp);
    const char *sid = NULL;
    size_t sid_len = 0;
    int has = tail_session(msg, *lenp, &sid, &sid_len);
    if (!session_is_ours(s, has, sid, sid_len)) return 0; /* another session's: untouched */
    if (offer_prefixed(s, msg, lenp, has)) return 1;
  }
  size_t len = *lenp;
  const char *end = msg + len, *vend;
  const char *idv = js_member(msg, end, "id", &vend);
  if (s->method) {
    if (idv) return 0; /* replies always go to Lua */
    if (s->wrap_len) return worker_odd_chunk(s, msg, len);
    const char *m = js_member(msg, end, "method", &vend);
    size_t ml = strlen(s->method);
    if (!m) {
      /* cut short or broken: if it names our method it was meant for us */
      if (memmem(msg, len < 200 ? len : 200, s->method, ml) == NULL) return 0;
      sink_fail(s, E_PROTO, "malformed snapshot chunk from the runtime (%s, after %lld bytes)",
                "unparseable message");
      return 1;
    }
    if ((size_t)(vend - m) != ml + 2 || memcmp(m + 1, s->method, ml) != 0) return 0;
    const char *sv = js_member(msg, end, "sessionId", &vend);
    int has = sv && *sv == '"' && vend - sv >= 2;
    if (!session_is_ours(s, has, has ? sv + 1 : NULL, has ? (size_t)(vend - sv - 2) : 0)) return 0;
    write_field(s, msg, len, "params");
    return 1;
  }
  long long id;
  if (!idv || !js_int(idv, end, &id) || id != s->reply_id) return 0;
  if (js_member(msg, end, "error", &vend)) return 0; /* let Lua report the runtime's error */
  int ok = write_field(s, msg, len, "result");
  char buf[128];
  snprintf(buf, sizeof buf, "{\"id\":%lld,\"result\":{\"memdbgSinkBytes\":%lld,\"ok\":%s}}", id,
           s->bytes, ok ? "true" : "false");
  *replacement = strdup(buf);
  return 1;
}

int sink_finish(sink_t *s, const char *final_path, int keep, char *err, size_t errlen) {
  int rc = 0;
  s->kept[0] = '\0';
  if (s->active) {
    if (final_path && !s->err[0]) {
      const char *code;
      rc = outfile_publish(&s->out, final_path, s->clobber, err, errlen, &code);
      if (rc) s->errcode = code;
    }
    if ((!final_path || rc != 0) && keep && outfile_keep(&s->out, s->kept, sizeof s->kept) != 0)
      s->kept[0] = '\0';
    if (outfile_close(&s->out) != 0 && rc == 0 && final_path) {
      snprintf(err, errlen, "closing %s failed: %s", final_path, strerror(errno));
      s->errcode = E_IO;
      rc = -1;
    }
  }
  free(s->method);
  free(s->field);
  free(s->prefix);
  free(s->session);
  s->method = s->field = s->prefix = s->session = NULL;
  s->active = 0;
  s->out.fd = -1;
  return rc;
}
