/* A minimal JSON scanner: finds members and skips values without building
 * anything, so the transport can route a 100 MB message by reading a few keys. */
#include <stdlib.h>
#include <string.h>

#include "core/jsonscan.h"

const char *js_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

/* p is at the opening quote; returns the position after the closing quote. */
static const char *skip_string(const char *p, const char *end) {
  p++;
  for (;;) {
    const char *q = memchr(p, '"', (size_t)(end - p));
    if (!q) return NULL;
    /* an odd run of backslashes before the quote escapes it */
    size_t bs = 0;
    for (const char *b = q - 1; b >= p && *b == '\\'; b--)
      bs++;
    if ((bs & 1) == 0) return q + 1;
    p = q + 1;
  }
}

const char *js_skip(const char *p, const char *end) {
  int depth = 0;
  p = js_ws(p, end);
  do {
    if (p >= end) return NULL;
    char c = *p;
    if (c == '"') {
      p = skip_string(p, end);
      if (!p) return NULL;
    } else if (c == '{' || c == '[') {
      depth++;
      p++;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return NULL;
      depth--;
      p++;
    } else if (c == ',' || c == ':' || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      if (depth == 0) return NULL;
      p++;
    } else if ((c >= '0' && c <= '9') || c == '-' || c == 't' || c == 'f' || c == 'n') {
      while (p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '-' ||
                         *p == '+' || *p == '.' || *p == 'E'))
        p++;
    } else {
      return NULL;
    }
  } while (depth > 0);
  return p;
}

const char *js_member(const char *p, const char *end, const char *key, const char **vend) {
  size_t klen = strlen(key);
  p = js_ws(p, end);
  if (p >= end || *p != '{') return NULL;
  p = js_ws(p + 1, end);
  while (p < end && *p == '"') {
    const char *kstart = p + 1;
    const char *kend = skip_string(p, end);
    if (!kend) return NULL;
    int match = (size_t)(kend - 1 - kstart) == klen && memcmp(kstart, key, klen) == 0;
    p = js_ws(kend, end);
    if (p >= end || *p != ':') return NULL;
    p = js_ws(p + 1, end);
    const char *v = p;
    const char *ve = js_skip(p, end);
    if (!ve) return NULL;
    if (match) {
      if (vend) *vend = ve;
      return v;
    }
    p = js_ws(ve, end);
    if (p < end && *p == ',') p = js_ws(p + 1, end);
  }
  return NULL;
}

int js_int(const char *p, const char *end, long long *out) {
  long long v = 0;
  int neg = 0, digits = 0;
  p = js_ws(p, end);
  if (p < end && *p == '-') neg = 1, p++;
  while (p < end && *p >= '0' && *p <= '9' && digits < 18)
    v = v * 10 + (*p++ - '0'), digits++;
  if (!digits || (p < end && (*p == '.' || *p == 'e' || *p == 'E'))) return 0;
  *out = neg ? -v : v;
  return 1;
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return 0;
  }
  *out = v;
  return 1;
}

static char *put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    *o++ = (char)cp;
  } else if (cp < 0x800) {
    *o++ = (char)(0xC0 | (cp >> 6));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *o++ = (char)(0xE0 | (cp >> 12));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *o++ = (char)(0xF0 | (cp >> 18));
    *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  }
  return o;
}

/* Decodes the escape whose backslash precedes *pp, writing at *oo. */
static int decode_escape(char **pp, const char *end, char **oo) {
  char *p = *pp, *o = *oo;
  if (p >= end) return -1;
  switch (*p++) {
  case '"':
    *o++ = '"';
    break;
  case '\\':
    *o++ = '\\';
    break;
  case '/':
    *o++ = '/';
    break;
  case 'b':
    *o++ = '\b';
    break;
  case 'f':
    *o++ = '\f';
    break;
  case 'n':
    *o++ = '\n';
    break;
  case 'r':
    *o++ = '\r';
    break;
  case 't':
    *o++ = '\t';
    break;
  case 'u': {
    unsigned cp, lo;
    if (end - p < 4 || !hex4(p, &cp)) return -1;
    p += 4;
    if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
        hex4(p + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      p += 6;
    }
    o = put_utf8(o, cp); /* a lone surrogate is kept as its 3-byte form */
    break;
  }
  default:
    return -1;
  }
  *pp = p, *oo = o;
  return 0;
}

long js_unescape(char *s, size_t len) {
  char *o = s, *p = s, *end = s + len;
  for (;;) {
    char *bs = memchr(p, '\\', (size_t)(end - p));
    size_t n = (size_t)((bs ? bs : end) - p);
    if (o != p) memmove(o, p, n);
    o += n;
    if (!bs) return (long)(o - s);
    p = bs + 1;
    if (decode_escape(&p, end, &o) != 0) return -1;
  }
}

long js_unescape_string(char *s, const char *end, const char **close) {
  char *o = s, *p = s;
  const char *q = NULL; /* the first quote at or after p */
  for (;;) {
    if (!q || q < p) {
      q = memchr(p, '"', (size_t)(end - p));
      if (!q) return -1;
    }
    char *bs = memchr(p, '\\', (size_t)(q - p));
    size_t n = (size_t)((bs ? bs : q) - p);
    if (o != p) memmove(o, p, n);
    o += n;
    if (!bs) {
      *close = q;
      return (long)(o - s);
    }
    p = bs + 1;
    if (decode_escape(&p, end, &o) != 0) return -1;
  }
}
