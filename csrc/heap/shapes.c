/* Edge types and names, stored once per distinct list. Objects of one
 * hidden class, strings of one kind, the closures of one function list
 * the same edge types and names in the same order (only the targets
 * differ), so each node points at its list in a shared table of words
 * (type in the top bits, name below) instead of carrying a word per edge:
 * 8 bytes per edge become 4 per node plus the distinct lists (1 to 30 % of
 * the edges on the snapshots measured). The parser fills per-edge type and
 * name columns; heap_build_edge_words() turns them into the table and
 * frees them. A name too large for the bits left (an element index, or a
 * string index past the string count, which the graph checks later) is
 * kept whole in a side list, by word; "no name" (UINT32_MAX) has a code
 * of its own. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heap.h"

/* Gives back the whole pages of [from, to): read once, never again. */
static void release(const void *from, const void *to) {
  uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = ((uintptr_t)from + pg - 1) & ~(pg - 1), b = (uintptr_t)to & ~(pg - 1);
  if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

static uint64_t hash_words(const uint32_t *w, uint32_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
  for (uint32_t i = 0; i < n; i++) {
    h ^= w[i];
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
  }
  return h;
}

uint32_t heap_edge_wide_name(const struct heap_snapshot *s, uint32_t word) {
  if ((s->edge_words[word] & s->edge_name_mask) == s->edge_name_mask - 1) return UINT32_MAX;
  uint32_t lo = 0, hi = s->wide_name_count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->wide_name_word[mid] < word)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < s->wide_name_count && s->wide_name_word[lo] == word ? s->wide_name[lo] : UINT32_MAX;
}

static int push_wide(struct heap_snapshot *s, uint32_t *cap, uint32_t word, uint32_t name) {
  if (s->wide_name_count == *cap) {
    uint32_t ncap = *cap ? *cap * 2 : 64;
    uint32_t *w = realloc(s->wide_name_word, (size_t)ncap * 4), *n;
    if (!w) return -1;
    s->wide_name_word = w;
    n = realloc(s->wide_name, (size_t)ncap * 4);
    if (!n) return -1;
    s->wide_name = n;
    *cap = ncap;
  }
  s->wide_name_word[s->wide_name_count] = word;
  s->wide_name[s->wide_name_count++] = name;
  return 0;
}

/* The open-addressing index of the lists seen, capped so that a graph
 * whose lists are all different costs at most ~1 byte per node here:
 * past the cap, new lists go into the table without being indexed. */
struct slot {
  uint32_t off, len, hash; /* 0 len: empty (an empty list needs no entry) */
};
struct index {
  struct slot *v;
  size_t cap, n, max;
};

static void index_put(struct slot *v, size_t cap, struct slot x) {
  size_t i = x.hash & (cap - 1);
  while (v[i].len)
    i = (i + 1) & (cap - 1);
  v[i] = x;
}

static int index_grow(struct index *x) {
  size_t cap = x->cap ? x->cap * 2 : 4096;
  struct slot *v = calloc(cap, sizeof *v);
  if (!v) return -1;
  for (size_t i = 0; i < x->cap; i++)
    if (x->v[i].len) index_put(v, cap, x->v[i]);
  free(x->v);
  x->v = v;
  x->cap = cap;
  return 0;
}

static int same(const uint32_t *a, const uint32_t *b, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

int heap_build_edge_words(struct heap_snapshot *s, uint8_t *type, uint32_t *name) {
  uint32_t n = s->node_count, m = s->edge_count;
  uint32_t tb = 1;
  while (tb < 8 && (1u << tb) < s->edge_type_count)
    tb++;
  s->edge_name_bits = 32 - tb;
  s->edge_name_mask = (1u << s->edge_name_bits) - 1;
  uint32_t *shape = malloc((size_t)n * 4 + 4), *words = malloc((size_t)m * 4 + 4), wcap = 0;
  struct index x = {0};
  x.max = n / 24 + 1024;
  int rc = -1;
  if (!shape || !words || index_grow(&x)) goto out;
  uint32_t used = 0, rel = 0; /* the columns are read once, front to back: give them back */
  for (uint32_t v = 0; v < n; v++) {
    uint32_t f = s->first_edge[v], c = s->first_edge[v + 1] - f;
    if (f - rel >= (1u << 20)) {
      release(type + rel, type + f);
      release(name + rel, name + f);
      rel = f;
    }
    if (c == 0) {
      shape[v] = 0;
      continue;
    }
    /* the list, as words, at the table's end (kept there if it is new) */
    uint32_t *w = words + used;
    uint32_t wide = 0;
    for (uint32_t k = 0; k < c; k++) {
      uint32_t nm = name[f + k];
      if (nm == UINT32_MAX) { /* no name (JSC's internal edges): shared like any other */
        nm = s->edge_name_mask - 1;
      } else if (nm >= s->edge_name_mask - 1) {
        nm = s->edge_name_mask;
        wide = 1;
      }
      w[k] = (uint32_t)type[f + k] << s->edge_name_bits | nm;
    }
    if (!wide) { /* lists with wide names are never shared: their names differ by word */
      uint32_t h = (uint32_t)(hash_words(w, c) >> 32);
      size_t i = h & (x.cap - 1);
      for (; x.v[i].len; i = (i + 1) & (x.cap - 1))
        if (x.v[i].hash == h && x.v[i].len == c && same(words + x.v[i].off, w, c)) break;
      if (x.v[i].len) {
        shape[v] = x.v[i].off;
        continue;
      }
      if (x.n < x.max) {
        x.v[i] = (struct slot){used, c, h};
        if (++x.n * 2 > x.cap && index_grow(&x)) goto out;
      }
    } else {
      for (uint32_t k = 0; k < c; k++)
        if ((w[k] & s->edge_name_mask) == s->edge_name_mask &&
            push_wide(s, &wcap, used + k, name[f + k]))
          goto out;
    }
    shape[v] = used;
    used += c;
  }
  /* the table only ever needs the words it kept */
  uint32_t *fit = realloc(words, (size_t)used * 4 + 4);
  if (fit) words = fit;
  free(s->edge_shape);
  free(s->edge_words);
  s->edge_shape = shape;
  s->edge_words = words;
  s->edge_word_count = used;
  shape = words = NULL;
  rc = 0;
out:
  free(shape);
  free(words);
  free(x.v);
  return rc;
}

uint32_t heap_edge_name_index(const struct heap_snapshot *s, uint32_t e) {
  return heap_edge_name_at(s, heap_edge_from(s, e), e);
}

uint8_t heap_edge_type(const struct heap_snapshot *s, uint32_t e) {
  return heap_edge_type_at(s, heap_edge_from(s, e), e);
}
