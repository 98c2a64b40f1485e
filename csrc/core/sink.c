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

int sink_open(sink_t *s, const char *path, const char *method, long long reply_id,
              const char *field, char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  if (outfile_open(&s->out, path, err, errlen) != 0) return -1;
  s->method = method ? strdup(method) : NULL;
  if (method) { /* the shape every V8 runtime sends, recognised without a scan */
    size_t n = strlen(method) + strlen(field) + 40;
    s->prefix = malloc(n);
    if (s->prefix)
      s->prefix_len =
          (size_t)snprintf(s->prefix, n, "{\"method\":\"%s\",\"params\":{\"%s\":\"", method, field);
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
 * message. 1: an event; 0: a reply (an "id" at the top level); -1: broken. */
static int rest_of_event(const char *p, const char *end) {
  for (int level = 0; level < 2; level++) {
    p = js_ws(p, end);
    while (p < end && *p == ',') {
      const char *k = js_ws(p + 1, end);
      const char *ke = k < end && *k == '"' ? js_skip(k, end) : NULL;
      if (!ke) return -1;
      if (level == 1 && ke - k == 4 && memcmp(k, "\"id\"", 4) == 0) return 0;
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

/* The fast path: a message that begins with the sink's prefix is decoded in
 * the same pass that finds the chunk's end. Returns 1 when consumed; 0 when
 * it is a reply after all (the chunk is then emptied in place, *len updated,
 * and the message goes on to the general route). */
static int offer_prefixed(sink_t *s, char *msg, size_t *len) {
  char *body = msg + s->prefix_len;
  const char *end = msg + *len, *close;
  long n = js_unescape_string(body, end, &close);
  int kind = n < 0 ? -1
             : (close + 3 == end && close[1] == '}' && close[2] == '}')
                 ? 1
                 : rest_of_event(close + 1, end);
  if (kind == 0) {
    size_t rest = (size_t)(end - close);
    memmove(body, close, rest);
    *len = s->prefix_len + rest;
    msg[*len] = '\0';
    return 0;
  }
  if (kind < 0) {
    sink_fail(s, E_PROTO, "malformed snapshot chunk from the runtime (%s, after %lld bytes)",
              n < 0 ? "bad string" : "bad message");
    return 1;
  }
  write_all(s, body, (size_t)n);
  s->chunks++;
  return 1;
}

int sink_offer(sink_t *s, char *msg, size_t *lenp, char **replacement) {
  if (!s->active) return 0;
  *replacement = NULL;
  if (s->method && s->prefix && *lenp >= s->prefix_len + 3 &&
      memcmp(msg, s->prefix, s->prefix_len) == 0 && offer_prefixed(s, msg, lenp))
    return 1;
  size_t len = *lenp;
  const char *end = msg + len, *vend;
  const char *idv = js_member(msg, end, "id", &vend);
  if (s->method) {
    if (idv) return 0; /* replies always go to Lua */
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
      rc = outfile_publish(&s->out, final_path, s->no_clobber, err, errlen, &code);
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
  s->method = s->field = s->prefix = NULL;
  s->active = 0;
  s->out.fd = -1;
  return rc;
}
