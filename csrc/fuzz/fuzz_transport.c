/* libFuzzer target for the transport's parsers of what a remote peer sends:
 * HTTP response heads (csrc/core/httphead.c), chunked bodies, and websocket
 * frame headers (csrc/core/wsframe.c). The first byte picks the parser; each
 * runs on an exact-size heap copy, so any read past the input is an ASan
 * report. The chunked decoder is also checked against itself: fed at once
 * and fed one byte at a time, it must decode the same bytes.
 *
 *   build/fuzz/fuzz_transport -dict=csrc/fuzz/transport.dict CORPUS_DIR csrc/fuzz/corpus/transport
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/httphead.h"
#include "core/wsframe.h"

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      fprintf(stderr, "fuzz_transport: invariant failed: %s (line %d)\n", #c, __LINE__);           \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static volatile unsigned long sink;

static void heads(const char *p, size_t n) {
  size_t hl = httphead_length(p, n);
  CHECK(hl <= n);
  if (!hl) hl = n;
  int status = httphead_status(p, hl);
  CHECK(status >= -1 && status <= 999);
  static const char *const names[] = {"Content-Length", "Transfer-Encoding", "Upgrade",
                                      "Connection", "Sec-WebSocket-Accept"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const char *v;
    size_t vl;
    if (httphead_header(p, hl, names[i], &v, &vl)) {
      CHECK(v >= p && v + vl <= p + hl);
      sink += (unsigned long)httphead_has_token(v, vl, "chunked");
    }
  }
}

/* Decodes a chunked body fed in pieces of `step` bytes (0: all at once). */
static long unchunk(const char *in, size_t n, size_t step, char *out, int *done) {
  chunked_t c;
  memset(&c, 0, sizeof c);
  char *work = malloc(n ? n : 1);
  if (!work) return -2;
  memcpy(work, in, n);
  long total = 0;
  *done = 0;
  for (size_t i = 0; i < n && !*done;) {
    size_t k = step && n - i > step ? step : n - i;
    long r = chunked_feed(&c, work + i, k, work + i, done);
    if (r < 0) {
      free(work);
      return -1;
    }
    CHECK((size_t)r <= k);
    memcpy(out + total, work + i, (size_t)r);
    total += r;
    i += k;
  }
  free(work);
  return total;
}

static void chunked(const char *p, size_t n) {
  char *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
  if (!a || !b) goto out;
  int da, db;
  long ra = unchunk(p, n, 0, a, &da);
  long rb = unchunk(p, n, 1, b, &db);
  if (ra == -2 || rb == -2) goto out;
  /* byte by byte may stop earlier only where the whole input was broken later */
  if (ra >= 0 && rb >= 0) {
    CHECK(ra == rb && da == db);
    CHECK(memcmp(a, b, (size_t)ra) == 0);
  }
out:
  free(a);
  free(b);
}

static void frames(const unsigned char *p, size_t n) {
  while (n > 0) {
    wsframe_t f;
    int r = wsframe_parse(p, n, &f);
    if (r <= 0) return;
    CHECK(f.hlen >= 2 && f.hlen <= 14 && f.hlen <= n);
    CHECK(f.opcode >= 0 && f.opcode <= 15 && f.rsv >= 0 && f.rsv <= 7);
    if (f.len > n - f.hlen) return;
    p += f.hlen + (size_t)f.len;
    n -= f.hlen + (size_t)f.len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t n = size - 1;
  char *buf = malloc(n ? n : 1);
  if (!buf) return 0;
  memcpy(buf, data + 1, n);
  switch (data[0] % 3) {
  case 0:
    heads(buf, n);
    break;
  case 1:
    chunked(buf, n);
    break;
  default:
    frames((const unsigned char *)buf, n);
    break;
  }
  free(buf);
  return 0;
}
