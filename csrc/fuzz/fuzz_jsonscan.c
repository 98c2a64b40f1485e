/* libFuzzer target for the transport's JSON scanner (csrc/core/jsonscan.c):
 * the snapshot sink routes every inspector message by js_member()/js_skip()
 * and unescapes a chunk in place with js_unescape(), all on bytes a remote
 * runtime sent. This drives the same sequence the sink does
 * (method -> params -> chunk, id -> result -> field) on a copy of the input
 * sized exactly, so any read or write past it is an ASan report.
 *
 *   build/fuzz/fuzz_jsonscan -dict=csrc/fuzz/jsonscan.dict CORPUS_DIR csrc/fuzz/corpus/jsonscan */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonscan.h"

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      fprintf(stderr, "fuzz_jsonscan: invariant failed: %s (line %d)\n", #c, __LINE__);            \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static volatile unsigned long sink;

/* Unescapes the body of the string value [v, ve) in a buffer of its exact size. */
static void unescape_value(const char *v, const char *ve) {
  if (ve - v < 2 || *v != '"' || ve[-1] != '"') return;
  size_t n = (size_t)(ve - v) - 2;
  char *copy = malloc(n ? n : 1);
  if (!copy) return;
  memcpy(copy, v + 1, n);
  long r = js_unescape(copy, n);
  CHECK(r >= -1 && r <= (long)n);
  sink += (unsigned long)r;
  free(copy);
}

static const char *member(const char *p, const char *end, const char *key, const char **vend) {
  const char *ve = NULL;
  const char *v = js_member(p, end, key, &ve);
  if (v) CHECK(v >= p && v <= ve && ve <= end);
  *vend = ve;
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* an exact-size heap copy: the scanner must never read past end */
  char *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  const char *p = buf, *end = buf + size, *ve;

  const char *q = js_skip(p, end);
  if (q) CHECK(q > p && q <= end);
  CHECK(js_ws(p, end) <= end);

  long long id = 0;
  sink += js_int(p, end, &id) ? (unsigned long)id : 0;

  /* the sink's event route: {"method":..., "params":{"chunk":"..."}} */
  const char *m = member(p, end, "method", &ve);
  if (m) sink += (unsigned long)(ve - m);
  const char *params = member(p, end, "params", &ve);
  if (params) {
    const char *pe = ve, *ce;
    const char *chunk = member(params, pe, "chunk", &ce);
    if (chunk) {
      CHECK(ce <= pe);
      unescape_value(chunk, ce);
    }
  }
  /* the reply route: {"id":N, "result":{"<field>":"..."}} */
  const char *idv = member(p, end, "id", &ve);
  if (idv && js_int(idv, ve, &id)) sink += (unsigned long)id;
  const char *result = member(p, end, "result", &ve);
  if (result) {
    const char *re = ve, *se;
    const char *snap = member(result, re, "snapshot", &se);
    if (snap) unescape_value(snap, se);
  }

  /* the sink's fast path: a string body decoded up to its closing quote */
  if (size > 0) {
    char *copy = malloc(size);
    if (copy) {
      memcpy(copy, data, size);
      const char *close = NULL;
      long n = js_unescape_string(copy, copy + size, &close);
      if (n >= 0)
        CHECK(close >= copy + n && close < copy + size && *close == '"');
      else
        CHECK(n == -1);
      free(copy);
    }
  }

  /* and the unescaper on the raw bytes, in place */
  long r = js_unescape(buf, size);
  CHECK(r >= -1 && r <= (long)size);
  free(buf);
  return 0;
}
