/* JSON scanning primitives over a contiguous buffer (see scan.h). */
#include "scan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MARK_STEP ((size_t)1 << 20) /* report progress / drop pages every 1 MB */

void scan_fail(struct scanner *sc, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  /* the analyser loses track of ap across the noreturn declaration */
  if (sc->err && sc->errlen)
    vsnprintf(sc->err, sc->errlen, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
  va_end(ap);
  sc->code = code;
  longjmp(sc->fail, 1);
}

void scan_expected(struct scanner *sc, const char *what) {
  size_t off = scan_offset(sc);
  if (sc->p >= sc->end)
    scan_fail(sc, HEAP_ETRUNCATED, "unexpected end of file at byte %zu: expected %s", off, what);
  unsigned char c = (unsigned char)*sc->p;
  if (c >= 0x20 && c < 0x7f)
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: expected %s, found '%c'", off, what, c);
  scan_fail(sc, HEAP_EFORMAT, "at byte %zu: expected %s, found byte 0x%02x", off, what, c);
}

void scan_checkpoint(struct scanner *sc) {
  if (sc->release_pages) {
    /* The mapping is private and read-only: dropping consumed pages keeps
     * peak RSS down to the arrays we build, not the file text. */
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t upto = ((uintptr_t)sc->p - (256 << 10)) & ~(uintptr_t)(pg - 1);
    uintptr_t from = (uintptr_t)sc->released;
    if (upto > from) {
      madvise((void *)from, upto - from, MADV_DONTNEED);
      sc->released = (const char *)upto;
    }
  }
  if (sc->progress) sc->progress(sc->progress_ud, scan_offset(sc), (uint64_t)(sc->end - sc->base));
  size_t left = (size_t)(sc->end - sc->p);
  sc->next_mark = sc->p + (left > MARK_STEP ? MARK_STEP : left);
  if (sc->next_mark == sc->p) sc->next_mark = sc->end + 1; /* never again */
}

void *scan_alloc(struct scanner *sc, size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) scan_fail(sc, HEAP_ENOMEM, "out of memory allocating %zu bytes", n);
  return p;
}

void *scan_realloc(struct scanner *sc, void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) scan_fail(sc, HEAP_ENOMEM, "out of memory allocating %zu bytes", n);
  return q;
}

void bytes_reserve(struct scanner *sc, struct bytes *b, size_t extra) {
  if (b->n + extra <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->n + extra)
    cap += cap / 2 + 64;
  b->v = scan_realloc(sc, b->v, cap);
  b->cap = cap;
}

void u32_push(struct scanner *sc, struct u32vec *v, uint32_t x) {
  if (v->n == v->cap) {
    v->cap = v->cap ? v->cap + v->cap / 2 : 1024;
    v->v = scan_realloc(sc, v->v, v->cap * sizeof *v->v);
  }
  v->v[v->n++] = x;
}

void u64_push(struct scanner *sc, struct u64vec *v, uint64_t x) {
  if (v->n == v->cap) {
    v->cap = v->cap ? v->cap + v->cap / 2 : 1024;
    v->v = scan_realloc(sc, v->v, v->cap * sizeof *v->v);
  }
  v->v[v->n++] = x;
}

uint64_t scan_uint(struct scanner *sc) {
  scan_ws(sc);
  const char *p = sc->p, *end = sc->end;
  if (p >= end || (unsigned)(*p - '0') > 9) scan_expected(sc, "a non-negative integer");
  uint64_t v = 0;
  const char *start = p;
  while (p < end && (unsigned)(*p - '0') <= 9)
    v = v * 10 + (uint64_t)(*p++ - '0');
  if (p - start > 19) scan_fail(sc, HEAP_ERANGE, "at byte %zu: number too large", scan_offset(sc));
  sc->p = p;
  if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: expected an integer, found a fraction or exponent",
              scan_offset(sc));
  return v;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static unsigned read_hex4(struct scanner *sc, const char *p) {
  if (sc->end - p < 4) {
    sc->p = sc->end;
    scan_expected(sc, "four hex digits after \\u");
  }
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval((unsigned char)p[i]);
    if (h < 0) {
      sc->p = p + i;
      scan_expected(sc, "a hex digit in a \\u escape");
    }
    v = v * 16 + (unsigned)h;
  }
  return v;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

size_t scan_string(struct scanner *sc, struct bytes *b) {
  if (scan_peek(sc) != '"') scan_expected(sc, "a string");
  const char *p = sc->p + 1, *end = sc->end;
  size_t start = b->n;
  for (;;) {
    /* copy the plain run up to a quote or backslash in one go */
    const char *q = p;
    while (q < end && *q != '"' && *q != '\\')
      q++;
    bytes_reserve(sc, b, (size_t)(q - p) + 8);
    memcpy(b->v + b->n, p, (size_t)(q - p));
    b->n += (size_t)(q - p);
    p = q;
    if (p >= end) {
      sc->p = end;
      scan_expected(sc, "the closing quote of a string");
    }
    if (*p == '"') break;
    /* backslash escape */
    if (end - p < 2) {
      sc->p = end;
      scan_expected(sc, "an escape character");
    }
    char c = p[1];
    char out;
    switch (c) {
    case '"':
      out = '"';
      break;
    case '\\':
      out = '\\';
      break;
    case '/':
      out = '/';
      break;
    case 'b':
      out = '\b';
      break;
    case 'f':
      out = '\f';
      break;
    case 'n':
      out = '\n';
      break;
    case 'r':
      out = '\r';
      break;
    case 't':
      out = '\t';
      break;
    case 'u': {
      unsigned cp = read_hex4(sc, p + 2);
      p += 6;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* a high surrogate: pair it with the following low one */
        if (end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
          unsigned lo = read_hex4(sc, p + 2);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
          } else {
            cp = 0xFFFD;
          }
        } else {
          cp = 0xFFFD;
        }
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        cp = 0xFFFD; /* lone low surrogate */
      }
      b->n += put_utf8(b->v + b->n, cp);
      continue;
    }
    default:
      sc->p = p + 1;
      scan_expected(sc, "a valid escape character");
    }
    b->v[b->n++] = out;
    p += 2;
  }
  b->v[b->n++] = '\0';
  sc->p = p + 1;
  return start;
}

void scan_key(struct scanner *sc, char *buf, size_t buflen) {
  if (scan_peek(sc) != '"') scan_expected(sc, "an object key");
  /* keys are short; decode into a temporary buffer, then copy */
  char tmp[256];
  const char *p = sc->p + 1;
  size_t n = 0;
  while (p < sc->end && *p != '"' && *p != '\\' && n < sizeof tmp - 1)
    tmp[n++] = *p++;
  if (p < sc->end && *p == '"') {
    sc->p = p + 1;
    tmp[n] = 0;
  } else {
    sc->scratch.n = 0;
    scan_string(sc, &sc->scratch); /* rare: escapes or a long key */
    n = strlen(sc->scratch.v);
    if (n > sizeof tmp - 1) n = sizeof tmp - 1;
    memcpy(tmp, sc->scratch.v, n);
    tmp[n] = 0;
  }
  if (n > buflen - 1) n = buflen - 1;
  memcpy(buf, tmp, n);
  buf[n] = 0;
  scan_expect(sc, ':', "':' after an object key");
}

void scan_skip_value(struct scanner *sc) {
  int c = scan_peek(sc);
  if (c < 0) scan_expected(sc, "a value");
  size_t depth = 0;
  const char *p = sc->p, *end = sc->end;
  for (;;) {
    if (p >= end) {
      sc->p = p;
      scan_expected(sc, depth ? "the end of an array or object" : "a value");
    }
    char ch = *p;
    if (ch == '"') {
      p++;
      while (p < end && *p != '"')
        p += (*p == '\\') ? 2 : 1;
      if (p >= end) {
        sc->p = end;
        scan_expected(sc, "the closing quote of a string");
      }
      p++;
      if (depth == 0) break;
      continue;
    }
    if (ch == '[' || ch == '{') {
      depth++;
    } else if (ch == ']' || ch == '}') {
      if (depth == 0) break; /* end of the enclosing container: a scalar just ended */
      depth--;
      if (depth == 0) {
        p++;
        break;
      }
    } else if (depth == 0 && (ch == ',' || ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')) {
      break;
    }
    p++;
    if (p >= sc->next_mark) {
      sc->p = p;
      scan_checkpoint(sc);
    }
  }
  sc->p = p;
}

void scan_uint_array(struct scanner *sc, struct u32vec *v, const char *what) {
  scan_expect(sc, '[', what);
  if (scan_peek(sc) == ']') {
    sc->p++;
    return;
  }
  for (;;) {
    uint64_t x = scan_uint(sc);
    if (x > UINT32_MAX)
      scan_fail(sc, HEAP_ERANGE, "at byte %zu: %s value %llu too large", scan_offset(sc), what,
                (unsigned long long)x);
    if (v) u32_push(sc, v, (uint32_t)x);
    if (sc->p >= sc->next_mark) scan_checkpoint(sc);
    int c = scan_peek(sc);
    sc->p++;
    if (c == ',') continue;
    if (c == ']') return;
    sc->p--;
    scan_expected(sc, "',' or ']' in a number array");
  }
}

void scan_string_array(struct scanner *sc, struct bytes *b, struct u64vec *off) {
  scan_expect(sc, '[', "'[' starting a string array");
  if (scan_peek(sc) == ']') {
    sc->p++;
    return;
  }
  for (;;) {
    u64_push(sc, off, scan_string(sc, b));
    if (sc->p >= sc->next_mark) scan_checkpoint(sc);
    int c = scan_peek(sc);
    sc->p++;
    if (c == ',') continue;
    if (c == ']') return;
    sc->p--;
    scan_expected(sc, "',' or ']' in a string array");
  }
}

/* ---- the small DOM for snapshot.meta ---- */

static void jval_clear(struct jval *v) {
  for (size_t i = 0; i < v->n; i++) {
    jval_clear(&v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->str);
}

void jval_free(struct jval *v) {
  if (!v) return;
  jval_clear(v);
  free(v);
}

static void dom_into(struct scanner *sc, struct jval *out, int depth);

void scan_dom(struct scanner *sc, struct jval **slot) {
  struct jval *v = scan_alloc(sc, sizeof *v);
  memset(v, 0, sizeof *v);
  *slot = v; /* owned by the caller before anything can fail */
  dom_into(sc, v, 0);
}

/* The DOM nodes are reachable from the root passed in, so on a longjmp the
 * caller frees the partial tree (items are zeroed before filling). */
static void dom_into(struct scanner *sc, struct jval *out, int depth) {
  if (depth > 32)
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: snapshot meta nested too deeply", scan_offset(sc));
  int c = scan_peek(sc);
  if (c == '"') {
    out->type = J_STR;
    sc->scratch.n = 0;
    scan_string(sc, &sc->scratch);
    out->str = strdup(sc->scratch.v);
    if (!out->str) scan_fail(sc, HEAP_ENOMEM, "out of memory");
  } else if (c == '[' || c == '{') {
    int obj = c == '{';
    out->type = obj ? J_OBJ : J_ARR;
    sc->p++;
    size_t cap = 0;
    if (scan_peek(sc) == (obj ? '}' : ']')) {
      sc->p++;
      return;
    }
    for (;;) {
      if (out->n == cap) {
        cap = cap ? cap * 2 : 8;
        out->items = scan_realloc(sc, out->items, cap * sizeof *out->items);
        if (obj) out->keys = scan_realloc(sc, out->keys, cap * sizeof *out->keys);
      }
      memset(&out->items[out->n], 0, sizeof *out->items);
      if (obj) {
        out->keys[out->n] = NULL;
        out->n++;
        if (scan_peek(sc) != '"') scan_expected(sc, "an object key");
        sc->scratch.n = 0;
        scan_string(sc, &sc->scratch);
        out->keys[out->n - 1] = strdup(sc->scratch.v);
        if (!out->keys[out->n - 1]) scan_fail(sc, HEAP_ENOMEM, "out of memory");
        scan_expect(sc, ':', "':' after an object key");
      } else {
        out->n++;
      }
      dom_into(sc, &out->items[out->n - 1], depth + 1);
      int d = scan_peek(sc);
      sc->p++;
      if (d == ',') continue;
      if (d == (obj ? '}' : ']')) return;
      sc->p--;
      scan_expected(sc, obj ? "',' or '}' in an object" : "',' or ']' in an array");
    }
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    char *endp;
    out->type = J_NUM;
    char tmp[64];
    size_t n = 0;
    while (sc->p + n < sc->end && n < sizeof tmp - 1 && strchr("+-.eE0123456789", sc->p[n])) {
      tmp[n] = sc->p[n];
      n++;
    }
    tmp[n] = 0;
    out->num = strtod(tmp, &endp);
    if (endp == tmp) scan_expected(sc, "a number");
    sc->p += endp - tmp;
  } else if (c == 't' && sc->end - sc->p >= 4 && !memcmp(sc->p, "true", 4)) {
    out->type = J_BOOL;
    out->num = 1;
    sc->p += 4;
  } else if (c == 'f' && sc->end - sc->p >= 5 && !memcmp(sc->p, "false", 5)) {
    out->type = J_BOOL;
    sc->p += 5;
  } else if (c == 'n' && sc->end - sc->p >= 4 && !memcmp(sc->p, "null", 4)) {
    out->type = J_NULL;
    sc->p += 4;
  } else {
    scan_expected(sc, "a JSON value");
  }
}

const struct jval *jget(const struct jval *o, const char *key) {
  if (!o || o->type != J_OBJ) return NULL;
  for (size_t i = 0; i < o->n; i++)
    if (o->keys[i] && !strcmp(o->keys[i], key)) return &o->items[i];
  return NULL;
}
