/* The fast path for the two big number arrays (nodes and edges, ~90% of a
 * snapshot's bytes): when the meta declares how many numbers to expect, the
 * array is cut in two at a comma and both halves are parsed at once, the
 * second on another thread. The second half learns where its numbers go by
 * counting the commas of the first (a word-at-a-time count, far cheaper than
 * parsing). Each half writes its own slots of the preallocated columns; any
 * error is reported for the earliest offset, exactly as a serial parse
 * would. Small arrays, undeclared counts and MEMDBG_HEAP_THREADS=1 take the
 * serial path in parse.c. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "columns.h"

size_t heap_split_min = (size_t)8 << 20; /* arrays smaller than this are not split */

struct half {
  struct parser *P;
  struct scanner sc; /* own cursor and jmp_buf; shares the buffer */
  char err[512];
  const char *from, *to;  /* numbers in [from, to) */
  const char *count_from; /* second half: count the commas in [count_from, from - 1) first */
  uint64_t first, count;
  int edges, failed;
};

static uint64_t count_commas(const char *p, const char *end) {
  const uint64_t lo7 = 0x7F7F7F7F7F7F7F7Full, hi = 0x8080808080808080ull,
                 pat = 0x2C2C2C2C2C2C2C2Cull;
  uint64_t n = 0;
  while (p + 8 <= end) {
    uint64_t w;
    memcpy(&w, p, 8);
    uint64_t x = w ^ pat; /* bytes equal to ',' become zero */
    uint64_t nonzero = (((x & lo7) + lo7) | x) & hi;
    /* one bit per byte: sum them with a multiply (no popcount instruction
     * in the baseline x86-64 build, and libgcc's is a call) */
    n += 8 - (((nonzero >> 7) * 0x0101010101010101ull) >> 56);
    p += 8;
  }
  for (; p < end; p++)
    n += *p == ',';
  return n;
}

/* Drops the whole pages inside [p, q) from our RSS when the buffer is our
 * own file mapping; a later read faults them back in from the page cache. */
static void drop_pages(int release, const char *p, const char *q) {
  if (!release) return;
  long pg = sysconf(_SC_PAGESIZE);
  uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1),
            b = (uintptr_t)q & ~(uintptr_t)(pg - 1);
  if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

/* memchr in 8 MB steps that does not leave the scanned pages resident. */
static const char *find_byte(int release, const char *p, const char *end, char c) {
  const size_t step = (size_t)1 << 20;
  while (p < end) {
    const char *q = (size_t)(end - p) > step ? p + step : end;
    const char *hit = memchr(p, c, (size_t)(q - p));
    drop_pages(release, p, hit ? hit : q);
    if (hit) return hit;
    p = q;
  }
  return NULL;
}

static _Noreturn void bad_separator(struct scanner *sc, const char *what) {
  if (sc->p < sc->end && (*sc->p == '.' || *sc->p == 'e' || *sc->p == 'E'))
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: expected an integer, found a fraction or exponent",
              scan_offset(sc));
  scan_expected(sc, what);
}

#define IS_WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')

/* Reads the numbers of [h->from, h->to) into the columns, starting at
 * number index h->first. */
static void parse_half(struct half *h) {
  struct scanner *sc = &h->sc;
  struct parser *P = h->P;
  struct heap_snapshot *s = P->s;
  const int8_t *role = h->edges ? P->edge_role : P->node_role;
  const uint32_t nf = h->edges ? P->ef : P->nf;
  const uint32_t ntypes = h->edges ? s->edge_type_count : s->node_type_count;
  const uint64_t cap = h->edges ? P->edge_cap : P->node_cap;
  const uint32_t node_nf = P->nf;
  const uint64_t node_limit = (uint64_t)s->node_count * node_nf;
  const char *what = h->edges ? "a number in the edges array" : "a number in the nodes array";
  const char *sep = h->edges ? "',' or ']' in the edges array" : "',' or ']' in the nodes array";
  uint64_t n = h->first / nf, v;
  uint32_t f = (uint32_t)(h->first % nf);
  uint64_t count = 0;
  /* *end is the ',' or ']' after the last number: a non-digit, non-space
   * byte inside the buffer, so the scans below need no bounds checks */
  const char *p = h->from, *end = h->to;
  for (;;) {
    while (IS_WS(*p))
      p++;
    if (p >= end || (unsigned)(*p - '0') > 9) {
      sc->p = p < end ? p : end;
      scan_expected(sc, what);
    }
    const char *d0 = p;
    v = (uint64_t)(*p++ - '0');
    while ((unsigned)(*p - '0') <= 9)
      v = v * 10 + (uint64_t)(*p++ - '0');
    if (p > end) { /* digits ran past the region: the separator there is wrong */
      sc->p = end;
      bad_separator(sc, sep);
    }
    if (p - d0 > 19) {
      sc->p = d0;
      scan_fail(sc, HEAP_ERANGE, "at byte %zu: number too large", scan_offset(sc));
    }
    if (n >= cap) {
      sc->p = d0;
      scan_fail(sc, HEAP_EFORMAT, "at byte %zu: the %s array is longer than declared (%llu %s)",
                scan_offset(sc), h->edges ? "edges" : "nodes", (unsigned long long)cap,
                h->edges ? "edges in the nodes' edge counts" : "nodes in snapshot.node_count");
    }
    if (h->edges) {
      store_edge_value(sc, P, role[f], n, v, ntypes, node_nf, node_limit, p);
    } else {
      store_node_value(sc, s, role[f], n, v, ntypes, p);
    }
    count++;
    if (++f == nf) {
      f = 0;
      n++;
    }
    if (p >= sc->next_mark) {
      sc->p = p;
      scan_checkpoint(sc);
    }
    while (IS_WS(*p))
      p++;
    if (p >= end) break;
    if (*p != ',') {
      sc->p = p;
      bad_separator(sc, sep);
    }
    p++;
  }
  h->count = count;
}

static void *run_half(void *arg) {
  struct half *h = arg;
  if (setjmp(h->sc.fail)) {
    h->failed = 1;
    return NULL;
  }
  if (h->count_from) {
    /* count in 8 MB steps, dropping the counted pages again when the buffer
     * is our file mapping: the first half re-reads them from the page cache
     * soon anyway, and keeping them would pin the whole first half in RSS */
    const size_t step = (size_t)1 << 20;
    uint64_t commas = 0;
    const char *p = h->count_from, *stop = h->from - 1;
    while (p < stop) {
      const char *q = (size_t)(stop - p) > step ? p + step : stop;
      commas += count_commas(p, q);
      drop_pages(h->sc.release_pages, p, q);
      p = q;
    }
    h->first = commas + 1;
  }
  parse_half(h);
  drop_pages(h->sc.release_pages, h->sc.released,
             h->to); /* this half's pages go now, not at unmap */
  return NULL;
}

static void init_half(struct half *h, struct parser *P, int edges, const char *from, const char *to,
                      int main) {
  memset(h, 0, sizeof *h);
  h->P = P;
  h->edges = edges;
  h->from = from;
  h->to = to;
  h->sc.base = P->sc.base;
  h->sc.end = P->sc.end;
  h->sc.err = h->err;
  h->sc.errlen = sizeof h->err;
  h->sc.release_pages = P->sc.release_pages;
  if (main) {
    h->sc.progress = P->sc.progress;
    h->sc.progress_ud = P->sc.progress_ud;
    h->sc.released = P->sc.released;
    h->sc.next_mark = P->sc.next_mark;
  } else {
    long pg = sysconf(_SC_PAGESIZE);
    h->sc.released = (const char *)(((uintptr_t)from + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1));
    h->sc.next_mark = from + ((size_t)1 << 20);
  }
}

/* Re-raises a half's error on the parser's own scanner. */
static _Noreturn void raise_half(struct parser *P, struct half *h) {
  if (P->sc.err && P->sc.errlen) {
    strncpy(P->sc.err, h->err, P->sc.errlen - 1);
    P->sc.err[P->sc.errlen - 1] = 0;
  }
  P->sc.code = h->sc.code;
  longjmp(P->sc.fail, 1);
}

int columns_parse_split(struct parser *P, int edges, uint64_t *numbers) {
  struct scanner *sc = &P->sc;
  const char *open = sc->p; /* just after '[' */
  size_t left = (size_t)(sc->end - open);
  const char *env = getenv("MEMDBG_HEAP_THREADS");
  int one = env && atoi(env) == 1;
  /* nothing inside these arrays but digits, commas and whitespace, so the
   * first ']' closes them; without one the serial path reports the cut */
  const char *close = find_byte(sc->release_pages, open, open + left, ']');
  if (!close) return 0;
  const char *comma = NULL;
  if (!one && (size_t)(close - open) >= heap_split_min) {
    const char *mid = open + (close - open) / 2;
    comma = memchr(mid, ',', (size_t)(close - mid));
  }
  if (!comma) { /* one half: the fast loop over the whole array */
    while (open < close && IS_WS(*open))
      open++;
    if (open == close) return 0; /* empty: the serial path has the messages */
    struct half h;
    init_half(&h, P, edges, open, close, 1);
    run_half(&h);
    sc->next_mark = h.sc.next_mark;
    if (h.sc.released > sc->released) sc->released = h.sc.released;
    if (h.failed) raise_half(P, &h);
    *numbers = h.count;
    sc->p = close + 1;
    return 1;
  }

  struct half a, b;
  init_half(&a, P, edges, open, comma, 1);
  init_half(&b, P, edges, comma + 1, close, 0);
  b.count_from = open;
  pthread_t th;
  int threaded = pthread_create(&th, NULL, run_half, &b) == 0;
  run_half(&a);
  if (threaded)
    pthread_join(th, NULL);
  else
    run_half(&b);
  sc->next_mark = a.sc.next_mark;
  if (a.sc.released > sc->released) sc->released = a.sc.released;
  if (a.failed) raise_half(P, &a); /* the earlier offset wins */
  if (b.failed) raise_half(P, &b);
  if (a.count != b.first)
    scan_fail(sc, HEAP_EFORMAT, "at byte %zu: the %s array does not read consistently",
              (size_t)(open - sc->base), edges ? "edges" : "nodes");
  *numbers = a.count + b.count;
  sc->p = close + 1;
  return 1;
}
