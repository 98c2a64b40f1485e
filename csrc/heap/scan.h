/* The JSON scanner the parsers share: a cursor over one contiguous buffer
 * (a read-only file mapping or the caller's memory). Errors longjmp back to
 * the parse entry point, which owns every allocation through the parser
 * state, so nothing leaks on a malformed file. */
#ifndef MEMDBG_HEAP_SCAN_H
#define MEMDBG_HEAP_SCAN_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"

/* Growable byte buffer (the string pool) and uint32/uint64 vectors. */
struct bytes {
  char *v;
  size_t n, cap;
};
struct u32vec {
  uint32_t *v;
  size_t n, cap;
};
struct u64vec {
  uint64_t *v;
  size_t n, cap;
};

struct scanner {
  const char *base, *p, *end;
  jmp_buf fail;
  int code;
  char *err;
  size_t errlen;
  /* progress and page release: called when p passes next_mark */
  const char *next_mark;
  heap_progress_fn progress;
  void *progress_ud;
  int release_pages; /* the buffer is our own file mapping: drop pages behind us */
  const char *released;
  struct bytes scratch; /* keys and meta strings; freed by the entry point */
};

_Noreturn void scan_fail(struct scanner *sc, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fails with ETRUNCATED at the end of input, EFORMAT otherwise. */
_Noreturn void scan_expected(struct scanner *sc, const char *what);
void scan_checkpoint(struct scanner *sc);

static inline size_t scan_offset(const struct scanner *sc) {
  return (size_t)(sc->p - sc->base);
}

static inline void scan_ws(struct scanner *sc) {
  const char *p = sc->p, *end = sc->end;
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    p++;
  sc->p = p;
}
/* Skips whitespace and returns the next byte without consuming it (-1 at end). */
static inline int scan_peek(struct scanner *sc) {
  scan_ws(sc);
  return sc->p < sc->end ? (unsigned char)*sc->p : -1;
}
static inline void scan_expect(struct scanner *sc, char c, const char *what) {
  if (scan_peek(sc) != (unsigned char)c) scan_expected(sc, what);
  sc->p++;
}

void *scan_alloc(struct scanner *sc, size_t n); /* malloc or fail with ENOMEM */
void *scan_realloc(struct scanner *sc, void *p, size_t n);
void bytes_reserve(struct scanner *sc, struct bytes *b, size_t extra);
void u32_push(struct scanner *sc, struct u32vec *v, uint32_t x);
void u64_push(struct scanner *sc, struct u64vec *v, uint64_t x);

/* Reads a non-negative integer (the arrays hold nothing else). */
uint64_t scan_uint(struct scanner *sc);
/* Decodes a JSON string (cursor on the opening quote) into b, appends a NUL,
 * returns the offset where it starts. */
size_t scan_string(struct scanner *sc, struct bytes *b);
/* Reads an object key into buf (truncated to buflen-1 bytes), consumes ':'. */
void scan_key(struct scanner *sc, char *buf, size_t buflen);
/* Skips any JSON value. */
void scan_skip_value(struct scanner *sc);
/* Reads `[ uint, uint, ... ]` into v (v NULL: checks it only). */
void scan_uint_array(struct scanner *sc, struct u32vec *v, const char *what);
/* Reads `[ "s", ... ]` into pool b with offsets appended to off. */
void scan_string_array(struct scanner *sc, struct bytes *b, struct u64vec *off);

/* A tiny DOM, only for the small snapshot.meta object. */
enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
struct jval {
  enum jtype type;
  double num;
  char *str; /* J_STR */
  size_t n;  /* items of J_ARR / J_OBJ */
  struct jval *items;
  char **keys; /* J_OBJ */
};
void scan_dom(struct scanner *sc, struct jval **slot);
void jval_free(struct jval *v);
const struct jval *jget(const struct jval *o, const char *key);

#endif
