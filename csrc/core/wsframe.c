/* RFC 6455 section 5.2 frame headers. */
#include <string.h>

#include "core/wsframe.h"

int wsframe_parse(const unsigned char *p, size_t n, wsframe_t *f) {
  if (n < 2) return 0;
  f->fin = p[0] >> 7;
  f->rsv = (p[0] >> 4) & 7;
  f->opcode = p[0] & 15;
  f->masked = p[1] >> 7;
  uint64_t len = p[1] & 127;
  size_t h = 2;
  if (len == 126) {
    if (n < 4) return 0;
    len = (uint64_t)p[2] << 8 | p[3];
    h = 4;
  } else if (len == 127) {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; i++)
      len = len << 8 | p[2 + i];
    if (len >> 63) return -1;
    h = 10;
  }
  if (f->masked) {
    if (n < h + 4) return 0;
    memcpy(f->mask, p + h, 4);
    h += 4;
  }
  f->len = len;
  f->hlen = h;
  return 1;
}

size_t wsframe_header(unsigned char *h, int opcode, uint64_t len, const unsigned char mask[4]) {
  size_t n;
  h[0] = (unsigned char)(0x80 | opcode);
  if (len < 126) {
    h[1] = (unsigned char)(0x80 | len);
    n = 2;
  } else if (len <= 0xFFFF) {
    h[1] = 0x80 | 126;
    h[2] = (unsigned char)(len >> 8);
    h[3] = (unsigned char)len;
    n = 4;
  } else {
    h[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++)
      h[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    n = 10;
  }
  memcpy(h + n, mask, 4);
  return n + 4;
}

void wsframe_mask(unsigned char *p, size_t n, const unsigned char mask[4]) {
  for (size_t i = 0; i < n; i++)
    p[i] ^= mask[i & 3];
}
