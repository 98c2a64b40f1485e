/* Sizes kept in 16 (self) or 32 bits (retained) per node: almost every
 * one fits, so a narrow column holds them and the few that do not read
 * all ones there and live here, in a small open-addressing map from the
 * node to its whole value.
 * Writers may be two parse threads at once (the halves of the nodes
 * array): a put takes a lock, which only the rare wide value reaches. */
#include <pthread.h>
#include <stdlib.h>

#include "heap.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(uint32_t k, size_t cap) {
  uint64_t h = (uint64_t)k * 0x9e3779b97f4a7c15ull;
  return (size_t)(h >> 32) & (cap - 1);
}

uint64_t heap_wide_get(const struct heap_wide *w, uint32_t k) {
  if (!w->cap) return UINT32_MAX;
  for (size_t i = slot_of(k, w->cap);; i = (i + 1) & (w->cap - 1)) {
    if (w->key[i] == 0) return UINT32_MAX; /* not there: the column's value is the value */
    if (w->key[i] == k + 1) return w->val[i];
  }
}

static int put(struct heap_wide *w, uint32_t k, uint64_t v) {
  if ((w->n + 1) * 2 > w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 64;
    uint32_t *key = calloc(cap, sizeof *key);
    uint64_t *val = malloc(cap * sizeof *val);
    if (!key || !val) {
      free(key);
      free(val);
      return -1;
    }
    for (size_t i = 0; i < w->cap; i++) {
      if (!w->key[i]) continue;
      size_t j = slot_of(w->key[i] - 1, cap);
      while (key[j])
        j = (j + 1) & (cap - 1);
      key[j] = w->key[i];
      val[j] = w->val[i];
    }
    free(w->key);
    free(w->val);
    w->key = key;
    w->val = val;
    w->cap = cap;
  }
  size_t i = slot_of(k, w->cap);
  while (w->key[i] && w->key[i] != k + 1)
    i = (i + 1) & (w->cap - 1);
  if (!w->key[i]) {
    w->key[i] = k + 1;
    w->n++;
  }
  w->val[i] = v;
  return 0;
}

int heap_wide_put(struct heap_wide *w, uint32_t k, uint64_t v) {
  pthread_mutex_lock(&lock);
  int rc = put(w, k, v);
  pthread_mutex_unlock(&lock);
  return rc;
}

void heap_wide_free(struct heap_wide *w) {
  free(w->key);
  free(w->val);
  w->key = NULL;
  w->val = NULL;
  w->n = w->cap = 0;
}

uint64_t heap_str_high(const struct heap_snapshot *s, uint32_t i) {
  uint32_t lo = 0, hi = s->str_wrap_count; /* how many wraps are at or below i */
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->str_wrap[mid] <= i)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

int heap_set_string_offsets(struct heap_snapshot *s, uint64_t *off, uint32_t n) {
  uint32_t *low = (uint32_t *)off, nwrap = 0, cap = 0, *wrap = NULL;
  uint64_t high = 0;
  for (uint32_t i = 0; i < n; i++) { /* writes low[i] (bytes 4i..) after reading off[i] (8i..) */
    uint64_t o = off[i];
    if ((o >> 32) < high) { /* past 4 GiB only ascending offsets can be told apart */
      free(wrap);
      free(off);
      return -2;
    }
    while ((o >> 32) > high) {
      if (nwrap == cap) {
        cap = cap ? cap * 2 : 16;
        uint32_t *nw = realloc(wrap, (size_t)cap * 4);
        if (!nw) {
          free(wrap);
          free(off);
          return -1;
        }
        wrap = nw;
      }
      wrap[nwrap++] = i;
      high++;
    }
    low[i] = (uint32_t)o;
  }
  uint32_t *fit = realloc(low, (size_t)n * 4 + 4);
  free(s->str_off);
  free(s->str_wrap);
  s->str_off = fit ? fit : low;
  s->str_wrap = wrap;
  s->str_wrap_count = nwrap;
  return 0;
}

int heap_set_self_size(struct heap_snapshot *s, uint32_t v, uint64_t x) {
  if (x < UINT16_MAX) {
    s->self16[v] = (uint16_t)x;
    return 0;
  }
  s->self16[v] = UINT16_MAX;
  return heap_wide_put(&s->self_wide, v, x);
}

int heap_set_retained_size(struct heap_snapshot *s, uint32_t v, uint64_t x) {
  if (x < UINT32_MAX) {
    s->retained32[v] = (uint32_t)x;
    return 0;
  }
  s->retained32[v] = UINT32_MAX;
  return heap_wide_put(&s->retained_wide, v, x);
}
