/*
 * mock_inspector: a scriptable Chrome DevTools Protocol endpoint for memdbg's specs.
 *
 *   mock_inspector [--runtime node|chrome|deno|workerd|bun] [--port 0] [--snapshot-bytes N]
 *                  [--watch-pid PID]
 *
 * Binds 127.0.0.1, prints "LISTENING <port>" and "WS <first target ws url>" on stdout and
 * serves until killed (or until PID is gone). Each accepted connection is handled by a forked
 * child (which dies with the parent via PR_SET_PDEATHSIG) with plain blocking POSIX socket
 * I/O, so that every byte on the wire is under control: partial frames, raw drops, stalls.
 * Everything is logged on stderr, one line per event.
 *
 * Scripted methods (see dispatch()): Mock.echo, .error, .events{count,method},
 * .replyWithMethod, .unknownIdReply, .fragmented{size,fragment,pingBetween},
 * .big{size,frame:"one"}, .trickle{size,chunk,delayMs}, .malformed, .malformedEvent, .stall,
 * .drop, .close{code,reason}, .ping, .stats, .exit, .setSnapshotFault{fault,afterChunks};
 * Runtime.enable/evaluate/getHeapUsage; HeapProfiler.takeHeapSnapshot/stopTrackingHeapObjects
 * {reportProgress}, stopSampling/getSamplingProfile; anything else -> {"result":{}}.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "core/jsonscan.h"
#include "core/wskey.h"

#define MAX_CLIENT_MESSAGE (64u << 20)
#define CHUNK_RAW_BYTES (64u << 10)
#define BIG_FRAGMENT (1u << 20)

enum runtime { RT_NODE, RT_CHROME, RT_DENO, RT_WORKERD, RT_BUN };
static const char *const runtime_names[] = {"node", "chrome", "deno", "workerd", "bun"};

static enum runtime g_rt = RT_NODE;
static int g_port;
static pid_t g_main_pid;
static size_t g_snapshot_bytes = 200u * 1024u;

static const char NODE_ID[] = "5a9c0f3e-1b2d-4c6e-8f70-9a1b2c3d4e5f";
static const char BUN_ID[] = "0b7d2e4f-6a8c-4e1f-9b3d-5c7e9f1a3b5d";
static const char CHROME_BROWSER_ID[] = "2f3a4b5c-6d7e-4f80-9a1b-c2d3e4f5a6b7";
static const char CHROME_UI_ID[] = "7E1C5B2A9D4F4E3A8B6C0D1E2F3A4B5C";
static const char CHROME_PAGE_A[] = "A5C3F2E1D0B94A8B7C6D5E4F3A2B1C0D";
static const char CHROME_PAGE_B[] = "B6D4E3F2A1C05B9C8D7E6F5A4B3C2D1E";

/* ------------------------------------------------------------------ logging */

static void mlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mlog(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  int n = snprintf(line, sizeof line, "[mock %d] ", (int)getpid());
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  size_t len = strlen(line);
  if (len < sizeof line - 1) line[len++] = '\n';
  ssize_t w = write(2, line, len); /* one write: lines from children do not interleave */
  (void)w;
}

static void die(const char *what) {
  mlog("fatal: %s: %s", what, strerror(errno));
  exit(1);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ string builder */

struct sb {
  char *p;
  size_t len, cap;
};

static void sb_reserve(struct sb *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) die("realloc");
  b->p = p;
  b->cap = cap;
}

static void sb_addn(struct sb *b, const char *s, size_t n) {
  sb_reserve(b, n);
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_add(struct sb *b, const char *s) {
  sb_addn(b, s, strlen(s));
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  sb_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Appends s as the inside of a JSON string literal. */
static void sb_add_escaped(struct sb *b, const char *s, size_t n) {
  sb_reserve(b, n + n / 8 + 16);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    char esc[8];
    const char *e = NULL;
    switch (ch) {
    case '"':
      e = "\\\"";
      break;
    case '\\':
      e = "\\\\";
      break;
    case '\n':
      e = "\\n";
      break;
    case '\r':
      e = "\\r";
      break;
    case '\t':
      e = "\\t";
      break;
    default:
      if (ch < 0x20) {
        snprintf(esc, sizeof esc, "\\u%04x", ch);
        e = esc;
      }
    }
    if (e) {
      sb_add(b, e);
    } else {
      sb_reserve(b, 1);
      b->p[b->len++] = (char)ch;
    }
  }
  if (b->p) b->p[b->len] = '\0';
}

static void sb_free(struct sb *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ------------------------------------------ JSON (the transport's scanner) */

/* The value of top-level `key` in the object at p..e: 1 and its raw span. */
static int jget(const char *p, const char *e, const char *key, const char **vs, const char **ve) {
  if (!p) return 0;
  *vs = js_member(p, e, key, ve);
  return *vs != NULL;
}

static int jget_num(const char *p, const char *e, const char *key, long long *out) {
  const char *vs, *ve;
  if (!jget(p, e, key, &vs, &ve)) return 0;
  char tmp[64];
  size_t n = (size_t)(ve - vs);
  if (n == 0 || n >= sizeof tmp) return 0;
  memcpy(tmp, vs, n);
  tmp[n] = '\0';
  char *end;
  double d = strtod(tmp, &end);
  if (end == tmp) return 0;
  *out = (long long)d;
  return 1;
}

static long long jnum(const char *p, const char *e, const char *key, long long def) {
  long long v;
  return jget_num(p, e, key, &v) ? v : def;
}

static int jbool(const char *p, const char *e, const char *key) {
  const char *vs, *ve;
  return jget(p, e, key, &vs, &ve) && ve - vs == 4 && memcmp(vs, "true", 4) == 0;
}

/* Copies the unescaped string value of `key` into out (cut to fit); 0 if absent or not a string. */
static int jstr(const char *p, const char *e, const char *key, char *out, size_t size) {
  const char *vs, *ve;
  if (!jget(p, e, key, &vs, &ve) || *vs != '"' || ve - vs < 2 || size == 0) return 0;
  size_t n = (size_t)(ve - vs) - 2;
  char *tmp = malloc(n + 1);
  if (!tmp) die("malloc");
  memcpy(tmp, vs + 1, n);
  long m = js_unescape(tmp, n);
  if (m < 0) m = 0;
  if ((size_t)m >= size) m = (long)size - 1;
  memcpy(out, tmp, (size_t)m);
  out[m] = '\0';
  free(tmp);
  return 1;
}

/* --------------------------------------------------------------- socket I/O */

struct conn {
  int fd;
  unsigned char rbuf[64 * 1024];
  size_t rpos, rlen;
  int close_sent, close_received;
  /* fault for the next snapshot */
  char fault[16];
  long long fault_after;
  unsigned messages, pings_sent, pongs, client_pings;
};

/* A failed write means the peer is gone: this connection's child just ends. */
static void write_all(struct conn *c, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      mlog("write failed (%s); closing connection", strerror(errno));
      close(c->fd);
      _exit(0);
    }
    p += w;
    n -= (size_t)w;
  }
}

static void hard_close(struct conn *c) {
  shutdown(c->fd, SHUT_RDWR);
  close(c->fd);
  _exit(0);
}

/* Reads more bytes into rbuf. 1: data, 0: EOF, -1: error, -2: deadline passed. */
static int rd_fill(struct conn *c, int64_t deadline) {
  if (c->rpos == c->rlen) c->rpos = c->rlen = 0;
  if (c->rlen == sizeof c->rbuf) {
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
  }
  for (;;) {
    int timeout = -1;
    if (deadline >= 0) {
      int64_t left = deadline - now_ms();
      if (left <= 0) return -2;
      timeout = (int)left;
    }
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int r = poll(&pfd, 1, timeout);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) return -2;
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) return 0;
    c->rlen += (size_t)n;
    return 1;
  }
}

static int rd_exact(struct conn *c, void *out, size_t n, int64_t deadline) {
  unsigned char *o = out;
  while (n > 0) {
    if (c->rpos == c->rlen) {
      int r = rd_fill(c, deadline);
      if (r <= 0) return r == 0 ? -1 : r;
    }
    size_t k = c->rlen - c->rpos;
    if (k > n) k = n;
    memcpy(o, c->rbuf + c->rpos, k);
    c->rpos += k;
    o += k;
    n -= k;
  }
  return 1;
}

/* ---------------------------------------------------------- websocket write */

static size_t ws_header(unsigned char *h, int fin, int opcode, uint64_t len) {
  h[0] = (unsigned char)((fin ? 0x80 : 0) | opcode);
  if (len < 126) {
    h[1] = (unsigned char)len;
    return 2;
  }
  if (len <= 0xFFFF) {
    h[1] = 126;
    h[2] = (unsigned char)(len >> 8);
    h[3] = (unsigned char)len;
    return 4;
  }
  h[1] = 127;
  for (int i = 0; i < 8; i++)
    h[2 + i] = (unsigned char)(len >> (56 - 8 * i));
  return 10;
}

/* Streams one text message of known total length, split into frames of `frag` payload
 * bytes (0 = one frame), without holding the message in memory. */
struct mw {
  struct conn *c;
  uint64_t remaining, frag, in_frame;
  int first, ping_between; /* ping_between: a ping frame before every continuation frame */
  size_t blen;
  unsigned char buf[64 * 1024];
};

static void mw_flush(struct mw *w) {
  if (w->blen) write_all(w->c, w->buf, w->blen);
  w->blen = 0;
}

static void mw_begin(struct mw *w, struct conn *c, uint64_t total, uint64_t frag) {
  w->c = c;
  w->remaining = total;
  w->frag = frag;
  w->in_frame = 0;
  w->first = 1;
  w->ping_between = 0;
  w->blen = 0;
}

static void mw_put(struct mw *w, const void *data, size_t n) {
  const unsigned char *p = data;
  if (n > w->remaining) n = (size_t)w->remaining; /* never exceed the announced length */
  while (n > 0) {
    if (w->in_frame == 0) {
      uint64_t len = (w->frag && w->frag < w->remaining) ? w->frag : w->remaining;
      if (sizeof w->buf - w->blen < 32) mw_flush(w);
      if (w->ping_between && !w->first) {
        w->blen += ws_header(w->buf + w->blen, 1, 9, 8);
        memcpy(w->buf + w->blen, "mid-ping", 8);
        w->blen += 8;
        w->c->pings_sent++;
      }
      w->blen += ws_header(w->buf + w->blen, len == w->remaining, w->first ? 1 : 0, len);
      w->first = 0;
      w->in_frame = len;
    }
    size_t k = n;
    if (k > w->in_frame) k = (size_t)w->in_frame;
    if (k > sizeof w->buf - w->blen) k = sizeof w->buf - w->blen;
    if (k == 0) {
      mw_flush(w);
      continue;
    }
    memcpy(w->buf + w->blen, p, k);
    w->blen += k;
    w->in_frame -= k;
    w->remaining -= k;
    p += k;
    n -= k;
  }
}

static void mw_end(struct mw *w) {
  if (w->remaining) mlog("BUG: message short by %llu bytes", (unsigned long long)w->remaining);
  mw_flush(w);
}

static void send_frame(struct conn *c, int opcode, const void *data, size_t n) {
  unsigned char h[16];
  size_t hl = ws_header(h, 1, opcode, n);
  struct sb b = {0};
  sb_addn(&b, (const char *)h, hl);
  if (n) sb_addn(&b, data, n);
  write_all(c, b.p, b.len);
  sb_free(&b);
}

static void send_text(struct conn *c, const struct sb *b) {
  send_frame(c, 1, b->p, b->len);
}

static void send_textf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_textf(struct conn *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n < 0) die("vasprintf");
  send_frame(c, 1, s, (size_t)n);
  free(s);
}

static void send_close(struct conn *c, int code, const char *reason) {
  unsigned char body[125];
  size_t n = 0;
  if (code > 0) {
    body[0] = (unsigned char)(code >> 8);
    body[1] = (unsigned char)code;
    n = 2;
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > 123) rl = 123;
    if (rl) memcpy(body + 2, reason, rl);
    n += rl;
  }
  send_frame(c, 8, body, n);
  c->close_sent = 1;
}

/* ----------------------------------------------------------- websocket read */

/* Reads one complete client text/binary message, answering control frames on the way.
 * 1: message in *out (malloc'd, NUL-terminated); -1: closed/EOF/protocol error;
 * -2: deadline passed. */
static int read_message(struct conn *c, char **out, size_t *outlen, int64_t deadline) {
  struct sb msg = {0};
  int in_msg = 0, r;
  for (;;) {
    unsigned char h[2], ext[8], mask[4];
    r = rd_exact(c, h, 2, deadline);
    if (r <= 0) goto fail;
    int fin = h[0] & 0x80, op = h[0] & 0x0F, masked = h[1] & 0x80;
    uint64_t len = h[1] & 0x7F;
    if (len == 126) {
      if ((r = rd_exact(c, ext, 2, deadline)) <= 0) goto fail;
      len = ((uint64_t)ext[0] << 8) | ext[1];
    } else if (len == 127) {
      if ((r = rd_exact(c, ext, 8, deadline)) <= 0) goto fail;
      len = 0;
      for (int i = 0; i < 8; i++)
        len = (len << 8) | ext[i];
    }
    if (!masked) {
      mlog("protocol error: unmasked client frame (opcode %d)", op);
      send_close(c, 1002, "client frames must be masked");
      r = -1;
      goto fail;
    }
    if (h[0] & 0x70) {
      mlog("protocol error: RSV bits set (0x%02x)", h[0]);
      send_close(c, 1002, "RSV bits set");
      r = -1;
      goto fail;
    }
    if ((r = rd_exact(c, mask, 4, deadline)) <= 0) goto fail;
    if (op >= 8) {
      unsigned char payload[125];
      if (len > 125 || !fin) {
        mlog("protocol error: bad control frame (opcode %d, len %llu)", op,
             (unsigned long long)len);
        send_close(c, 1002, "bad control frame");
        r = -1;
        goto fail;
      }
      if ((r = rd_exact(c, payload, (size_t)len, deadline)) <= 0) goto fail;
      for (size_t i = 0; i < len; i++)
        payload[i] ^= mask[i & 3];
      if (op == 8) {
        int code = len >= 2 ? (payload[0] << 8 | payload[1]) : 0;
        mlog("client close frame: code %d reason '%.*s'", code, len > 2 ? (int)len - 2 : 0,
             (const char *)payload + 2);
        c->close_received = 1;
        if (!c->close_sent) {
          send_frame(c, 8, payload, len >= 2 ? 2 : 0);
          c->close_sent = 1;
        }
        r = -1;
        goto fail;
      } else if (op == 9) {
        c->client_pings++;
        mlog("client ping (%llu bytes); sending pong", (unsigned long long)len);
        send_frame(c, 10, payload, (size_t)len);
      } else if (op == 10) {
        c->pongs++;
        mlog("PONG received (%.*s)", (int)len, (const char *)payload);
      } else {
        mlog("protocol error: unknown control opcode %d", op);
        send_close(c, 1002, "unknown opcode");
        r = -1;
        goto fail;
      }
      continue;
    }
    if (op == 0) {
      if (!in_msg) {
        mlog("protocol error: continuation frame without a message");
        send_close(c, 1002, "unexpected continuation");
        r = -1;
        goto fail;
      }
    } else if (op == 1 || op == 2) {
      if (in_msg) {
        mlog("protocol error: new data frame inside a fragmented message");
        send_close(c, 1002, "expected continuation");
        r = -1;
        goto fail;
      }
      if (op == 2) mlog("note: binary message from client (treated as text)");
      in_msg = 1;
    } else {
      mlog("protocol error: unknown opcode %d", op);
      send_close(c, 1002, "unknown opcode");
      r = -1;
      goto fail;
    }
    if (msg.len + len > MAX_CLIENT_MESSAGE) {
      mlog("client message too big (%llu bytes)", (unsigned long long)(msg.len + len));
      send_close(c, 1009, "message too big");
      r = -1;
      goto fail;
    }
    sb_reserve(&msg, (size_t)len);
    if ((r = rd_exact(c, msg.p + msg.len, (size_t)len, deadline)) <= 0) goto fail;
    for (size_t i = 0; i < len; i++)
      msg.p[msg.len + i] ^= (char)mask[i & 3];
    msg.len += (size_t)len;
    msg.p[msg.len] = '\0';
    if (fin) {
      *out = msg.p;
      *outlen = msg.len;
      return 1;
    }
  }
fail:
  sb_free(&msg);
  if (r == 0) r = -1;
  if (r == -1 && !c->close_received) mlog("connection ended without a close frame");
  return r;
}

/* ---------------------------------------------------------------- snapshot */

/* Builds a valid V8 heap snapshot of roughly `target` bytes (pure ASCII, as V8 writes). */
static void build_snapshot_items(struct sb *s, size_t items) {
  static const char *const strings[] = {
      "<dummy>",    "",
      "(GC roots)", "Object",
      "global",     "leak",
      "Leak",       "items",
      "Array",      "(object elements)",
      "elements",   "Item",
      "greeting",   "h\\u00e9llo \\u2603 \\\"mock\\\" \\\\ tab\\tend"};
  enum {
    S_EMPTY = 1,
    S_GCROOTS,
    S_OBJECT,
    S_GLOBAL,
    S_LEAK_P,
    S_LEAK,
    S_ITEMS,
    S_ARRAY,
    S_ELEMS,
    S_ELEMENTS,
    S_ITEM,
    S_GREETING,
    S_HELLO
  };
  enum { T_ARRAY = 1, T_STRING = 2, T_OBJECT = 3, T_SYNTHETIC = 9 };
  enum { E_ELEMENT = 1, E_PROPERTY = 2, E_INTERNAL = 3, E_SHORTCUT = 5 };
  enum { NF = 7, FIXED = 7 };
  size_t node_count = FIXED + items;
  size_t edge_count = 2 + 2 + 1 + 1 + items + 0;
  /* nodes: 0 root, 1 (GC roots), 2 global, 3 Leak, 4 Array, 5 (object elements),
   * 6 string, 7.. items */
  sb_add(s, "{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\","
            "\"edge_count\",\"trace_node_id\",\"detachedness\"],\"node_types\":[[\"hidden\","
            "\"array\",\"string\",\"object\",\"code\",\"closure\",\"regexp\",\"number\",\"native\","
            "\"synthetic\",\"concatenated string\",\"sliced string\",\"symbol\",\"bigint\","
            "\"object shape\"],\"string\",\"number\",\"number\",\"number\",\"number\",\"number\"],"
            "\"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],\"edge_types\":[["
            "\"context\",\"element\",\"property\",\"internal\",\"hidden\",\"shortcut\",\"weak\"],"
            "\"string_or_number\",\"node\"],\"trace_function_info_fields\":[\"function_id\","
            "\"name\",\"script_name\",\"script_id\",\"line\",\"column\"],\"trace_node_fields\":["
            "\"id\",\"function_info_index\",\"count\",\"size\",\"children\"],\"sample_fields\":["
            "\"timestamp_us\",\"last_assigned_id\"],\"location_fields\":[\"object_index\","
            "\"script_id\",\"line\",\"column\"]},");
  sb_printf(s, "\"node_count\":%zu,\"edge_count\":%zu,\"trace_function_count\":0},\n", node_count,
            edge_count);
  sb_add(s, "\"nodes\":[");
  sb_printf(s, "%d,%d,%d,%d,%d,0,0\n", T_SYNTHETIC, S_EMPTY, 1, 0, 2);
  sb_printf(s, ",%d,%d,%d,%d,%d,0,0\n", T_SYNTHETIC, S_GCROOTS, 3, 0, 0);
  sb_printf(s, ",%d,%d,%d,%d,%d,0,0\n", T_OBJECT, S_OBJECT, 5, 64, 2);
  sb_printf(s, ",%d,%d,%d,%d,%d,0,0\n", T_OBJECT, S_LEAK, 7, 32, 1);
  sb_printf(s, ",%d,%d,%d,%d,%d,0,0\n", T_OBJECT, S_ARRAY, 9, 32, 1);
  sb_printf(s, ",%d,%d,%d,%zu,%zu,0,0\n", T_ARRAY, S_ELEMS, 11, 16 + 8 * items, items);
  sb_printf(s, ",%d,%d,%d,%d,%d,0,0\n", T_STRING, S_HELLO, 13, 40, 0);
  for (size_t i = 0; i < items; i++)
    sb_printf(s, ",%d,%d,%zu,%d,0,0,0\n", T_OBJECT, S_ITEM, 15 + 2 * i, 32);
  sb_add(s, "],\n\"edges\":[");
  sb_printf(s, "%d,%d,%d\n", E_ELEMENT, 1, 1 * NF);            /* root -> (GC roots) */
  sb_printf(s, ",%d,%d,%d\n", E_SHORTCUT, S_GLOBAL, 2 * NF);   /* root -> global */
  sb_printf(s, ",%d,%d,%d\n", E_PROPERTY, S_LEAK_P, 3 * NF);   /* global.leak */
  sb_printf(s, ",%d,%d,%d\n", E_PROPERTY, S_GREETING, 6 * NF); /* global.greeting */
  sb_printf(s, ",%d,%d,%d\n", E_PROPERTY, S_ITEMS, 4 * NF);    /* Leak.items */
  sb_printf(s, ",%d,%d,%d\n", E_INTERNAL, S_ELEMENTS, 5 * NF); /* Array elements */
  for (size_t i = 0; i < items; i++)
    sb_printf(s, ",%d,%zu,%zu\n", E_ELEMENT, i, (FIXED + i) * NF);
  sb_add(s, "],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],\n"
            "\"locations\":[],\n\"strings\":[");
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
    sb_printf(s, "%s\"%s\"\n", i ? "," : "", strings[i]);
  sb_add(s, "]}");
}

/* Sizes the padding so that the snapshot comes out at about `target` bytes. */
static void build_snapshot(struct sb *s, size_t target) {
  build_snapshot_items(s, 3);
  size_t base = s->len, items = 3;
  /* item lines grow with their ids' digits: re-estimate from the last try (converges fast) */
  for (int pass = 0; pass < 4 && target > base; pass++) {
    size_t guess = items < 1000 ? 1000 : items;
    s->len = 0;
    build_snapshot_items(s, guess);
    double per_item = (double)(s->len - base) / (double)(guess - 3);
    items = (size_t)((double)(target - base) / per_item) + 3;
    if (s->len > target - target / 100 && s->len < target + target / 100 && guess == items) break;
  }
  s->len = 0;
  build_snapshot_items(s, items);
}

/* Streams a heap snapshot as addHeapSnapshotChunk events, honouring the configured fault.
 * Returns 1 if the caller should send the normal reply. */
static int stream_snapshot(struct conn *c, long long id, int progress) {
  static struct sb snap; /* built once per connection child, then reused */
  if (!snap.p) build_snapshot(&snap, g_snapshot_bytes);
  char fault[16];
  long long after = c->fault_after;
  snprintf(fault, sizeof fault, "%s", c->fault[0] ? c->fault : "none");
  c->fault[0] = '\0'; /* a fault applies to the next snapshot only */
  c->fault_after = 0;
  size_t nchunks = (snap.len + CHUNK_RAW_BYTES - 1) / CHUNK_RAW_BYTES;
  mlog("snapshot: %zu bytes in %zu chunks, fault %s after %lld", snap.len, nchunks, fault, after);
  int is_drop = !strcmp(fault, "drop"), is_stall = !strcmp(fault, "stall");
  int is_malformed = !strcmp(fault, "malformed"), is_error = !strcmp(fault, "error");
  struct sb m = {0};
  for (size_t i = 0; i <= nchunks; i++) {
    if ((long long)i == after) {
      if (is_drop) {
        mlog("snapshot fault: drop after %zu chunks", i);
        hard_close(c);
      }
      if (is_stall) {
        mlog("snapshot fault: stall after %zu chunks (no reply for id %lld)", i, id);
        sb_free(&m);
        return 0;
      }
      if (is_malformed) {
        mlog("snapshot fault: malformed chunk event after %zu chunks", i);
        send_textf(c, "{\"method\":\"HeapProfiler.addHeapSnapshotChunk\",\"params\":{\"chunk\":"
                      "\"{\\\"snap");
      }
      if (is_error) {
        mlog("snapshot fault: error reply after %zu chunks", i);
        send_textf(c,
                   "{\"id\":%lld,\"error\":{\"code\":-32000,\"message\":\"Mock snapshot "
                   "failure\"}}",
                   id);
        sb_free(&m);
        return 0;
      }
    }
    if (i == nchunks) break;
    size_t off = i * CHUNK_RAW_BYTES, n = snap.len - off;
    if (n > CHUNK_RAW_BYTES) n = CHUNK_RAW_BYTES;
    m.len = 0;
    sb_add(&m, "{\"method\":\"HeapProfiler.addHeapSnapshotChunk\",\"params\":{\"chunk\":\"");
    sb_add_escaped(&m, snap.p + off, n);
    sb_add(&m, "\"}}");
    send_text(c, &m);
    if (progress) {
      if (i + 1 < nchunks)
        send_textf(c,
                   "{\"method\":\"HeapProfiler.reportHeapSnapshotProgress\",\"params\":"
                   "{\"done\":%zu,\"total\":%zu}}",
                   i + 1, nchunks);
      else
        send_textf(c,
                   "{\"method\":\"HeapProfiler.reportHeapSnapshotProgress\",\"params\":"
                   "{\"done\":%zu,\"total\":%zu,\"finished\":true}}",
                   nchunks, nchunks);
    }
  }
  sb_free(&m);
  return 1;
}

/* ------------------------------------------------------------- dispatching */

static const char SAMPLING_PROFILE[] =
    "{\"profile\":{\"head\":{\"callFrame\":{\"functionName\":\"(root)\",\"scriptId\":\"0\","
    "\"url\":\"\",\"lineNumber\":-1,\"columnNumber\":-1},\"selfSize\":0,\"id\":1,\"children\":["
    "{\"callFrame\":{\"functionName\":\"allocate\",\"scriptId\":\"42\",\"url\":"
    "\"file:///mock/app.js\",\"lineNumber\":10,\"columnNumber\":4},\"selfSize\":65536,\"id\":2,"
    "\"children\":[{\"callFrame\":{\"functionName\":\"makeItem\",\"scriptId\":\"42\",\"url\":"
    "\"file:///mock/app.js\",\"lineNumber\":3,\"columnNumber\":2},\"selfSize\":32768,\"id\":3,"
    "\"children\":[]}]},{\"callFrame\":{\"functionName\":\"(V8 API)\",\"scriptId\":\"0\","
    "\"url\":\"\",\"lineNumber\":-1,\"columnNumber\":-1},\"selfSize\":1024,\"id\":4,"
    "\"children\":[]}]},\"samples\":[{\"size\":65536,\"nodeId\":2,\"ordinal\":1},"
    "{\"size\":32768,\"nodeId\":3,\"ordinal\":2},{\"size\":1024,\"nodeId\":4,\"ordinal\":3}]}}";

static void reply(struct conn *c, long long id, const char *result) {
  send_textf(c, "{\"id\":%lld,\"result\":%s}", id, result);
}

static void dispatch(struct conn *c, const char *msg, size_t len) {
  const char *e = msg + len;
  const char *vs, *ve, *ps = NULL, *pe = NULL;
  long long id = 0;
  char method[128] = "";
  c->messages++;
  int has_id = jget_num(msg, e, "id", &id);
  if (!has_id || !jstr(msg, e, "method", method, sizeof method)) {
    mlog("unparsable command (%zu bytes): %.200s", len, msg);
    send_textf(c, "{\"error\":{\"code\":-32700,\"message\":\"Message must have integer 'id' and "
                  "string 'method' properties\"}}");
    return;
  }
  if (jget(msg, e, "params", &vs, &ve)) {
    ps = vs;
    pe = ve;
  }
  mlog("recv id=%lld method=%s", id, method);

  if (!strcmp(method, "Mock.echo")) {
    send_textf(c, "{\"id\":%lld,\"result\":%.*s}", id, ps ? (int)(pe - ps) : 2, ps ? ps : "{}");
  } else if (!strcmp(method, "Mock.error")) {
    send_textf(c,
               "{\"id\":%lld,\"error\":{\"code\":-32601,\"message\":\"'Mock.error' wasn't "
               "found\"}}",
               id);
  } else if (!strcmp(method, "Mock.events")) {
    long long count = jnum(ps, pe, "count", 1);
    char ev[128];
    if (!jstr(ps, pe, "method", ev, sizeof ev)) snprintf(ev, sizeof ev, "Mock.event");
    struct sb name = {0};
    sb_add_escaped(&name, ev, strlen(ev));
    for (long long i = 1; i <= count; i++)
      send_textf(c, "{\"method\":\"%s\",\"params\":{\"n\":%lld}}", name.p ? name.p : "", i);
    sb_free(&name);
    send_textf(c, "{\"id\":%lld,\"result\":{\"sent\":%lld}}", id, count < 0 ? 0 : count);
  } else if (!strcmp(method, "Mock.replyWithMethod")) {
    send_textf(c, "{\"id\":%lld,\"method\":\"HeapProfiler.takeHeapSnapshot\",\"params\":{}}", id);
  } else if (!strcmp(method, "Mock.unknownIdReply")) {
    send_textf(c, "{\"id\":987654321,\"result\":{\"stray\":true}}");
    reply(c, id, "{\"ok\":true}");
  } else if (!strcmp(method, "Mock.fragmented") || !strcmp(method, "Mock.big")) {
    int big = !strcmp(method, "Mock.big");
    long long size = jnum(ps, pe, "size", big ? 1 << 20 : 100000);
    if (size < 0) size = 0;
    uint64_t frag;
    if (big) {
      char fr[16] = "";
      jstr(ps, pe, "frame", fr, sizeof fr);
      frag = strcmp(fr, "one") ? BIG_FRAGMENT : 0;
    } else {
      long long f = jnum(ps, pe, "fragment", 1024);
      frag = f > 0 ? (uint64_t)f : 1024;
    }
    char prefix[96];
    static const char suffix[] = "\"}}";
    int pl = snprintf(prefix, sizeof prefix, "{\"id\":%lld,\"result\":{\"data\":\"", id);
    uint64_t total = (uint64_t)pl + (uint64_t)size + (sizeof suffix - 1);
    mlog("%s: %llu byte message, %s", method, (unsigned long long)total,
         frag ? "fragmented" : "one frame");
    static struct mw w;
    static char data[64 * 1024];
    mw_begin(&w, c, total, frag);
    w.ping_between = !big && jbool(ps, pe, "pingBetween");
    mw_put(&w, prefix, (size_t)pl);
    for (uint64_t done = 0; done < (uint64_t)size;) {
      size_t n = sizeof data;
      if (n > (uint64_t)size - done) n = (size_t)((uint64_t)size - done);
      for (size_t i = 0; i < n; i++)
        data[i] = big ? (char)('a' + (done + i) % 26) : 'x';
      mw_put(&w, data, n);
      done += n;
    }
    mw_put(&w, suffix, sizeof suffix - 1);
    mw_end(&w);
  } else if (!strcmp(method, "Mock.trickle")) {
    /* one reply frame written `chunk` bytes (header included) per TCP segment */
    long long size = jnum(ps, pe, "size", 100), chunk = jnum(ps, pe, "chunk", 1);
    long long delay = jnum(ps, pe, "delayMs", 1);
    if (size < 0 || size > (16 << 20)) size = 100;
    if (chunk < 1) chunk = 1;
    if (delay < 0 || delay > 1000) delay = 1;
    struct sb b = {0};
    sb_printf(&b, "{\"id\":%lld,\"result\":{\"data\":\"", id);
    sb_reserve(&b, (size_t)size + 4);
    memset(b.p + b.len, 'x', (size_t)size);
    b.len += (size_t)size;
    sb_add(&b, "\"}}");
    unsigned char h[16];
    size_t hl = ws_header(h, 1, 1, b.len);
    struct sb f = {0};
    sb_addn(&f, (const char *)h, hl);
    sb_addn(&f, b.p, b.len);
    for (size_t off = 0; off < f.len; off += (size_t)chunk) {
      size_t n = f.len - off < (size_t)chunk ? f.len - off : (size_t)chunk;
      write_all(c, f.p + off, n);
      if (delay) usleep((useconds_t)delay * 1000);
    }
    sb_free(&b);
    sb_free(&f);
  } else if (!strcmp(method, "Mock.malformed")) {
    send_textf(c, "{\"id\":%lld,\"result\":{\"broken\": ", id);
  } else if (!strcmp(method, "Mock.malformedEvent")) {
    send_textf(c, "{\"method\":\"Mock.bad\",\"params\":{");
    reply(c, id, "{}");
  } else if (!strcmp(method, "Mock.stall")) {
    mlog("stalling id=%lld (never answered)", id);
  } else if (!strcmp(method, "Mock.drop")) {
    unsigned char h[4];
    size_t hl = ws_header(h, 1, 1, 1000);
    write_all(c, h, hl);
    write_all(c, "{\"id\":1,\"r", 10);
    mlog("drop: sent a header for 1000 bytes and 10 bytes, closing TCP");
    hard_close(c);
  } else if (!strcmp(method, "Mock.close")) {
    long long code = jnum(ps, pe, "code", 1000);
    char reason[124] = "";
    jstr(ps, pe, "reason", reason, sizeof reason);
    mlog("closing with code %lld reason '%s'", code, reason);
    send_close(c, (int)code, reason);
    int64_t deadline = now_ms() + 2000;
    char *m;
    size_t ml;
    int r;
    while ((r = read_message(c, &m, &ml, deadline)) == 1)
      free(m);
    mlog("after close: %s", c->close_received ? "client close frame received"
                            : r == -2         ? "no client close frame within 2 s"
                                              : "connection ended without close frame");
    hard_close(c);
  } else if (!strcmp(method, "Mock.ping")) {
    c->pings_sent++;
    send_frame(c, 9, "mock-ping", 9);
    reply(c, id, "{}");
  } else if (!strcmp(method, "Mock.stats")) {
    send_textf(c,
               "{\"id\":%lld,\"result\":{\"messages\":%u,\"pingsSent\":%u,\"pongs\":%u,"
               "\"clientPings\":%u}}",
               id, c->messages, c->pings_sent, c->pongs, c->client_pings);
  } else if (!strcmp(method, "Mock.exit")) {
    mlog("exit requested: killing the mock (pid %d)", (int)g_main_pid);
    kill(g_main_pid, SIGKILL);
    _exit(0);
  } else if (!strcmp(method, "Runtime.enable")) {
    send_textf(c, "{\"method\":\"Runtime.executionContextCreated\",\"params\":{\"context\":"
                  "{\"id\":1,\"origin\":\"\",\"name\":\"mock\"}}}");
    reply(c, id, "{}");
  } else if (!strcmp(method, "Runtime.evaluate")) {
    char expr[256] = "";
    jstr(ps, pe, "expression", expr, sizeof expr);
    if (!strcmp(expr, "6*7"))
      reply(c, id, "{\"result\":{\"type\":\"number\",\"value\":42,\"description\":\"42\"}}");
    else
      reply(c, id, "{\"result\":{\"type\":\"undefined\"}}");
  } else if (!strcmp(method, "Runtime.getHeapUsage")) {
    reply(c, id, "{\"usedSize\":1048576,\"totalSize\":2097152}");
  } else if (!strcmp(method, "Mock.setSnapshotFault")) {
    char fault[16] = "none";
    jstr(ps, pe, "fault", fault, sizeof fault);
    if (strcmp(fault, "none") && strcmp(fault, "drop") && strcmp(fault, "stall") &&
        strcmp(fault, "malformed") && strcmp(fault, "error")) {
      send_textf(c, "{\"id\":%lld,\"error\":{\"code\":-32602,\"message\":\"unknown fault\"}}", id);
      return;
    }
    snprintf(c->fault, sizeof c->fault, "%s", strcmp(fault, "none") ? fault : "");
    c->fault_after = jnum(ps, pe, "afterChunks", 0);
    reply(c, id, "{}");
  } else if (!strcmp(method, "HeapProfiler.takeHeapSnapshot") ||
             !strcmp(method, "HeapProfiler.stopTrackingHeapObjects")) {
    if (stream_snapshot(c, id, jbool(ps, pe, "reportProgress"))) reply(c, id, "{}");
  } else if (!strcmp(method, "HeapProfiler.stopSampling") ||
             !strcmp(method, "HeapProfiler.getSamplingProfile")) {
    reply(c, id, SAMPLING_PROFILE);
  } else {
    reply(c, id, "{}"); /* HeapProfiler.enable, collectGarbage, startSampling, unknown... */
  }
}

/* --------------------------------------------------------------------- HTTP */

static void http_send(struct conn *c, const char *status, const char *ctype, const char *body) {
  struct sb b = {0};
  sb_printf(&b,
            "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
            status, ctype, strlen(body), body);
  write_all(c, b.p, b.len);
  sb_free(&b);
}

static void target_json(struct sb *b, const char *id, const char *type, const char *title,
                        const char *url, const char *path) {
  sb_printf(b,
            "{\"description\":\"%s\",\"devtoolsFrontendUrl\":\"%s?%sws=127.0.0.1:%d%s\","
            "\"id\":\"%s\",\"title\":\"%s\",\"type\":\"%s\",\"url\":\"%s\","
            "\"webSocketDebuggerUrl\":\"ws://127.0.0.1:%d%s\"}",
            g_rt == RT_CHROME ? "" : "mock instance",
            g_rt == RT_CHROME ? "/devtools/inspector.html"
                              : "devtools://devtools/bundled/js_app.html",
            g_rt == RT_CHROME ? "" : "experiments=true&v8only=true&", g_port, path, id, title, type,
            url, g_port, path);
}

static void targets_json(struct sb *b) {
  char path[128];
  sb_add(b, "[ ");
  switch (g_rt) {
  case RT_CHROME:
    snprintf(path, sizeof path, "/devtools/page/%s", CHROME_UI_ID);
    target_json(b, CHROME_UI_ID, "browser_ui", "New Tab Footer", "chrome://newtab-footer/", path);
    sb_add(b, ", ");
    snprintf(path, sizeof path, "/devtools/page/%s", CHROME_PAGE_A);
    target_json(b, CHROME_PAGE_A, "page", "Page A", "http://example.test/a", path);
    sb_add(b, ", ");
    snprintf(path, sizeof path, "/devtools/page/%s", CHROME_PAGE_B);
    target_json(b, CHROME_PAGE_B, "page", "Page B", "http://example.test/b", path);
    break;
  case RT_WORKERD:
    target_json(b, "main", "node", "workerd: worker main", "file:///main.js", "/main");
    break;
  default:
    snprintf(path, sizeof path, "/%s", NODE_ID);
    target_json(b, NODE_ID, "node", g_rt == RT_DENO ? "deno[mock]" : "mock.js",
                "file:///mock/app.js", path);
  }
  sb_add(b, " ]\n");
}

static void first_ws_url(char *out, size_t size) {
  switch (g_rt) {
  case RT_CHROME:
    snprintf(out, size, "ws://127.0.0.1:%d/devtools/page/%s", g_port, CHROME_UI_ID);
    break;
  case RT_WORKERD:
    snprintf(out, size, "ws://127.0.0.1:%d/main", g_port);
    break;
  case RT_BUN:
    snprintf(out, size, "ws://127.0.0.1:%d/%s", g_port, BUN_ID);
    break;
  default:
    snprintf(out, size, "ws://127.0.0.1:%d/%s", g_port, NODE_ID);
  }
}

static const char *find_header(const char *headers, const char *name, char *out, size_t size) {
  size_t nl = strlen(name);
  for (const char *line = headers; line && *line;) {
    const char *eol = strstr(line, "\r\n");
    if (!eol || eol == line) break;
    if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
      const char *v = line + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
      const char *ve = eol;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
      size_t n = (size_t)(ve - v);
      if (n >= size) n = size - 1;
      memcpy(out, v, n);
      out[n] = '\0';
      return out;
    }
    line = eol + 2;
  }
  return NULL;
}

static void serve_connection(int fd) {
  static struct conn cn;
  struct conn *c = &cn;
  c->fd = fd;
  /* read the request head (a leftover of it stays in rbuf for the websocket side) */
  char *end;
  int64_t deadline = now_ms() + 30000;
  for (;;) {
    c->rbuf[c->rlen < sizeof c->rbuf ? c->rlen : sizeof c->rbuf - 1] = '\0';
    end = strstr((char *)c->rbuf, "\r\n\r\n");
    if (end) break;
    if (c->rlen >= sizeof c->rbuf - 1) {
      mlog("request head too large");
      http_send(c, "431 Request Header Fields Too Large", "text/plain", "too large\n");
      hard_close(c);
    }
    int r = rd_fill(c, deadline);
    if (r <= 0) {
      if (c->rlen) mlog("connection ended during the HTTP request head");
      close(fd);
      return;
    }
  }
  size_t head_len = (size_t)(end - (char *)c->rbuf) + 4;
  char head[sizeof c->rbuf];
  memcpy(head, c->rbuf, head_len);
  head[head_len] = '\0';
  c->rpos = head_len;
  char method[16] = "", path[1024] = "";
  if (sscanf(head, "%15s %1023s", method, path) != 2) {
    http_send(c, "400 Bad Request", "text/plain", "bad request\n");
    hard_close(c);
  }
  const char *headers = strstr(head, "\r\n") + 2;
  char upgrade[64], key[128], origin[256], hv[256];
  int is_ws = find_header(headers, "Upgrade", upgrade, sizeof upgrade) &&
              strcasecmp(upgrade, "websocket") == 0;
  mlog("HTTP %s %s%s", method, path, is_ws ? " (websocket upgrade)" : "");
  if (is_ws) {
    if (find_header(headers, "Origin", origin, sizeof origin) && g_rt == RT_CHROME) {
      char body[800];
      snprintf(body, sizeof body,
               "Rejected an incoming WebSocket connection from the %s origin. Use the command "
               "line flag --remote-allow-origins=%s to allow connections from this origin or "
               "--remote-allow-origins=* to allow all origins.",
               origin, origin);
      mlog("rejecting websocket with Origin: %s", origin);
      http_send(c, "403 Forbidden", "text/plain", body);
      hard_close(c);
    }
    if (!find_header(headers, "Sec-WebSocket-Key", key, sizeof key)) {
      http_send(c, "400 Bad Request", "text/plain", "missing Sec-WebSocket-Key\n");
      hard_close(c);
    }
    if (find_header(headers, "Sec-WebSocket-Extensions", hv, sizeof hv))
      mlog("client offered extensions '%s' (none accepted)", hv);
    char accept[29];
    wskey_accept(key, accept);
    struct sb b = {0};
    sb_printf(&b,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
              "Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
              accept);
    write_all(c, b.p, b.len);
    sb_free(&b);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
      char *msg;
      size_t len;
      if (read_message(c, &msg, &len, -1) != 1) break;
      dispatch(c, msg, len);
      free(msg);
    }
    hard_close(c);
  }
  char *q = strchr(path, '?');
  if (q) *q = '\0';
  struct sb body = {0};
  if (strcmp(method, "GET") != 0) {
    http_send(c, "404 Not Found", "text/plain", "not found\n");
  } else if ((!strcmp(path, "/json/list") || !strcmp(path, "/json") ||
              !strcmp(path, "/json/list/") || !strcmp(path, "/json/")) &&
             g_rt != RT_BUN) {
    targets_json(&body);
    http_send(c, "200 OK", "application/json; charset=UTF-8", body.p);
  } else if (!strcmp(path, "/json/version") || !strcmp(path, "/json/version/")) {
    switch (g_rt) {
    case RT_CHROME:
      sb_printf(&body,
                "{\n   \"Browser\": \"Chrome/156.0.0.0\",\n   \"Protocol-Version\": \"1.3\",\n"
                "   \"User-Agent\": \"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, "
                "like Gecko) Chrome/156.0.0.0 Safari/537.36\",\n   \"V8-Version\": \"15.6.0.0\",\n"
                "   \"WebKit-Version\": \"537.36\",\n   \"webSocketDebuggerUrl\": "
                "\"ws://127.0.0.1:%d/devtools/browser/%s\"\n}\n",
                g_port, CHROME_BROWSER_ID);
      break;
    case RT_DENO:
      sb_add(&body, "{\"Browser\":\"Deno/2.9.6\",\"Protocol-Version\":\"1.3\"}\n");
      break;
    case RT_WORKERD:
      sb_add(&body, "{\"Browser\":\"workerd\",\"Protocol-Version\":\"1.3\"}\n");
      break;
    case RT_BUN:
      sb_add(&body, "{\"Browser\":\"Bun\",\"Protocol-Version\":\"1.3\"}\n");
      break;
    default:
      sb_add(&body, "{\"Browser\":\"node.js/v20.20.2\",\"Protocol-Version\":\"1.3\"}\n");
    }
    http_send(c, "200 OK", "application/json; charset=UTF-8", body.p);
  } else {
    http_send(c, "404 Not Found", "text/plain", "not found\n");
  }
  sb_free(&body);
  shutdown(fd, SHUT_WR);
  close(fd);
}

/* --------------------------------------------------------------------- main */

/* True while `pid` exists and is not a zombie. */
static int pid_alive(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return kill(pid, 0) == 0 || errno == EPERM;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')');
  return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--runtime node|chrome|deno|workerd|bun] [--port N] [--snapshot-bytes N]\n"
          "          [--watch-pid PID]   (exit when PID is gone)\n",
          argv0);
  exit(2);
}

int main(int argc, char **argv) {
  int port = 0;
  pid_t watch_pid = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--runtime") && v) {
      size_t k;
      for (k = 0; k < sizeof runtime_names / sizeof runtime_names[0]; k++)
        if (!strcmp(v, runtime_names[k])) break;
      if (k == sizeof runtime_names / sizeof runtime_names[0]) usage(argv[0]);
      g_rt = (enum runtime)k;
      i++;
    } else if (!strcmp(a, "--port") && v) {
      port = atoi(v);
      i++;
    } else if (!strcmp(a, "--watch-pid") && v) {
      watch_pid = (pid_t)atoi(v);
      i++;
    } else if (!strcmp(a, "--snapshot-bytes") && v) {
      g_snapshot_bytes = (size_t)strtoull(v, NULL, 10);
      i++;
    } else {
      usage(argv[0]);
    }
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGCHLD, SIG_IGN); /* children are reaped automatically */
  g_main_pid = getpid();

  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) die("socket");
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
  if (listen(ls, 64) < 0) die("listen");
  socklen_t alen = sizeof addr;
  if (getsockname(ls, (struct sockaddr *)&addr, &alen) < 0) die("getsockname");
  g_port = ntohs(addr.sin_port);

  char ws[256];
  first_ws_url(ws, sizeof ws);
  printf("LISTENING %d\nWS %s\n", g_port, ws);
  fflush(stdout);
  mlog("runtime %s, snapshot ~%zu bytes", runtime_names[g_rt], g_snapshot_bytes);

  for (;;) {
    if (watch_pid > 0) { /* wake up once a second to see whether the test runner is still there */
      struct pollfd pfd = {.fd = ls, .events = POLLIN};
      int r = poll(&pfd, 1, 1000);
      if (r == 0 || (r < 0 && errno == EINTR)) {
        if (!pid_alive(watch_pid)) {
          mlog("watched pid %d is gone; exiting", (int)watch_pid);
          return 0;
        }
        continue;
      }
    }
    int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      mlog("accept: %s", strerror(errno));
      usleep(100000); /* e.g. EMFILE: back off instead of spinning */
      continue;
    }
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != g_main_pid) _exit(0); /* the mock died before prctl */
      close(ls);
      serve_connection(fd);
      _exit(0);
    }
    if (pid < 0) {
      mlog("fork: %s", strerror(errno));
      usleep(100000);
    }
    close(fd);
  }
}
