/* HTTP/1.x response heads and chunked transfer coding (RFC 9112). */
#include <string.h>
#include <strings.h>

#include "core/httphead.h"

size_t httphead_length(const char *buf, size_t len) {
  const char *p = memmem(buf, len, "\r\n\r\n", 4);
  return p ? (size_t)(p - buf) + 4 : 0;
}

int httphead_status(const char *head, size_t len) {
  if (len < 12 || memcmp(head, "HTTP/1.", 7) != 0) return -1;
  if ((head[7] != '0' && head[7] != '1') || head[8] != ' ') return -1;
  int code = 0;
  for (int i = 9; i < 12; i++) {
    if (head[i] < '0' || head[i] > '9') return -1;
    code = code * 10 + (head[i] - '0');
  }
  if (len > 12 && head[12] != ' ' && head[12] != '\r') return -1;
  return code;
}

int httphead_header(const char *head, size_t len, const char *name, const char **v, size_t *vlen) {
  size_t nl = strlen(name);
  const char *end = head + len;
  const char *line = memchr(head, '\n', len);
  while (line && ++line < end) {
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol) break;
    if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
      const char *s = line + nl + 1, *e = eol;
      while (s < e && (*s == ' ' || *s == '\t'))
        s++;
      while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
      *v = s;
      *vlen = (size_t)(e - s);
      return 1;
    }
    line = eol;
  }
  return 0;
}

int httphead_has_token(const char *v, size_t vlen, const char *token) {
  size_t tl = strlen(token);
  const char *end = v + vlen;
  while (v < end) {
    while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
      v++;
    const char *s = v;
    while (v < end && *v != ',')
      v++;
    const char *e = v;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
      e--;
    if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0) return 1;
  }
  return 0;
}

int httphead_clean(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f) return 0;
  return 1;
}

enum {
  CH_SIZE,
  CH_EXT,
  CH_SIZE_LF,
  CH_DATA,
  CH_DATA_CR,
  CH_DATA_LF,
  CH_TRAILER,
  CH_TRAILER_LINE,
  CH_DONE
};

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

long chunked_feed(chunked_t *c, const char *in, size_t n, char *out, int *done) {
  size_t i = 0, o = 0;
  *done = c->state == CH_DONE;
  while (i < n && c->state != CH_DONE) {
    char ch = in[i];
    switch (c->state) {
    case CH_SIZE: {
      int h = hexval(ch);
      if (h >= 0) {
        if (++c->digits > 15) return -1;
        c->left = c->left * 16 + (uint64_t)h;
        i++;
      } else if (c->digits > 0 && ch == '\r') {
        c->state = CH_SIZE_LF, i++;
      } else if (c->digits > 0 && (ch == ';' || ch == ' ' || ch == '\t')) {
        c->state = CH_EXT, i++;
      } else {
        return -1;
      }
      break;
    }
    case CH_EXT:
      if (ch == '\r') c->state = CH_SIZE_LF;
      i++;
      break;
    case CH_SIZE_LF:
      if (ch != '\n') return -1;
      i++;
      c->digits = 0;
      c->state = c->left ? CH_DATA : CH_TRAILER;
      break;
    case CH_DATA: {
      size_t k = n - i;
      if (k > c->left) k = (size_t)c->left;
      memmove(out + o, in + i, k);
      o += k, i += k, c->left -= k;
      if (!c->left) c->state = CH_DATA_CR;
      break;
    }
    case CH_DATA_CR:
      if (ch != '\r') return -1;
      c->state = CH_DATA_LF, i++;
      break;
    case CH_DATA_LF:
      if (ch != '\n') return -1;
      c->state = CH_SIZE, i++;
      break;
    case CH_TRAILER: /* at the start of a trailer line: an empty one ends the body */
      if (ch == '\r') {
        i++;
        if (i < n && in[i] == '\n') {
          c->state = CH_DONE, i++;
        } else if (i < n) {
          return -1;
        } else {
          c->state = CH_TRAILER_LINE; /* the LF comes next */
          c->digits = -1;
        }
      } else {
        c->state = CH_TRAILER_LINE, c->digits = 0;
      }
      break;
    case CH_TRAILER_LINE:
      if (c->digits == -1) { /* expecting the LF of the final CRLF */
        if (ch != '\n') return -1;
        c->state = CH_DONE, i++;
      } else {
        if (ch == '\n') c->state = CH_TRAILER;
        i++;
      }
      break;
    }
  }
  *done = c->state == CH_DONE;
  return (long)o;
}
