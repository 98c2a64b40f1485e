/* Class names, as DevTools' Summary shows them (calculateObjectNames,
 * applyInterfaceDefinitions, classKeyInternal):
 * - hidden nodes "(system)", code "(compiled code)", closures "Function",
 *   regexps "RegExp", other non-objects "(<type>)";
 * - objects and native nodes by name: a detached native node (after DOM
 *   state propagation) as "Detached <name>", DOM elements by tag
 *   ('<div id="a">' -> "<div>"), plain objects by their properties
 *   ("{a, b}", see interfaces.c);
 * - objects of one name but constructors at different source locations
 *   are separate classes (the class carries the location).
 * Raw mode (and JSC snapshots) keeps the node's own name for objects and
 * native nodes and "(<type>)" otherwise, "(system)" and "(compiled code)"
 * aside. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ifaces.h"

#define NONE UINT32_MAX

struct names { /* interned class names: content -> name id */
  const char **v;
  uint32_t n, cap;
  uint32_t *slot;
  size_t scap;
};

struct keys { /* (name id, location) -> class */
  uint32_t *slot;
  size_t cap;
};

static uint64_t hash_bytes(const char *s) {
  uint64_t h = 1469598103934665603ull;
  while (*s) {
    h ^= (unsigned char)*s++;
    h *= 1099511628211ull;
  }
  return h;
}

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

/* The name id of str; a string that is not in the pool (`owned`) is
 * copied when new. */
static uint32_t intern(struct heap_snapshot *s, struct names *m, const char *str, int owned) {
  if ((size_t)(m->n + 1) * 2 > m->scap) {
    size_t cap = m->scap ? m->scap * 2 : 1024;
    uint32_t *ns = calloc(cap, 4);
    if (!ns) return NONE;
    for (uint32_t i = 0; i < m->n; i++) {
      size_t h = hash_bytes(m->v[i]) & (cap - 1);
      while (ns[h])
        h = (h + 1) & (cap - 1);
      ns[h] = i + 1;
    }
    free(m->slot);
    m->slot = ns;
    m->scap = cap;
  }
  size_t h = hash_bytes(str) & (m->scap - 1);
  while (m->slot[h]) {
    if (!strcmp(m->v[m->slot[h] - 1], str)) return m->slot[h] - 1;
    h = (h + 1) & (m->scap - 1);
  }
  if (m->n == m->cap) {
    uint32_t cap = m->cap ? m->cap * 2 : 256;
    const char **nv = realloc(m->v, cap * sizeof *nv);
    if (!nv) return NONE;
    m->v = nv;
    m->cap = cap;
  }
  const char *keep = str;
  if (owned) {
    char *copy = strdup(str);
    if (!copy) return NONE;
    char **list = realloc(s->class_strings, ((size_t)s->class_string_count + 1) * sizeof *list);
    if (!list) {
      free(copy);
      return NONE;
    }
    s->class_strings = list;
    list[s->class_string_count++] = copy;
    keep = copy;
  }
  m->v[m->n] = keep;
  m->slot[h] = ++m->n;
  return m->n - 1;
}

/* Class of (name, location entry or NONE): locations compare by script,
 * line and column, as DevTools' class key does. */
static uint32_t class_for(struct heap_snapshot *s, struct keys *k, const struct names *m,
                          uint32_t name, uint32_t loc, uint32_t *cap) {
  const struct heap_loc *l = loc == NONE ? NULL : &s->locs[loc];
  uint64_t h64 =
      mix64(((uint64_t)name << 32) ^
            (l ? mix64(((uint64_t)l->script_id << 40) ^ ((uint64_t)l->line << 20) ^ l->column)
               : 0x9e3779b97f4a7c15ull));
  if ((size_t)(s->class_count + 1) * 2 > k->cap) {
    size_t ncap = k->cap ? k->cap * 2 : 1024;
    uint32_t *ns = calloc(ncap, 4);
    if (!ns) return NONE;
    free(k->slot); /* rehash by recomputing every class's hash */
    k->slot = ns;
    k->cap = ncap;
    for (uint32_t c = 0; c < s->class_count; c++) {
      uint32_t nm = s->class_name_id[c], lc = s->class_loc[c];
      const struct heap_loc *cl = lc == NONE ? NULL : &s->locs[lc];
      uint64_t ch = mix64(
          ((uint64_t)nm << 32) ^
          (cl ? mix64(((uint64_t)cl->script_id << 40) ^ ((uint64_t)cl->line << 20) ^ cl->column)
              : 0x9e3779b97f4a7c15ull));
      size_t hh = ch & (ncap - 1);
      while (ns[hh])
        hh = (hh + 1) & (ncap - 1);
      ns[hh] = c + 1;
    }
  }
  if (!k->slot) return NONE;
  size_t h = h64 & (k->cap - 1);
  while (k->slot[h]) {
    uint32_t c = k->slot[h] - 1, lc = s->class_loc[c];
    if (s->class_name_id[c] == name) {
      if (!l && lc == NONE) return c;
      if (l && lc != NONE && s->locs[lc].script_id == l->script_id && s->locs[lc].line == l->line &&
          s->locs[lc].column == l->column)
        return c;
    }
    h = (h + 1) & (k->cap - 1);
  }
  if (s->class_count == *cap) {
    uint32_t ncap = *cap * 2;
    const char **nl = realloc(s->class_label, ncap * sizeof *nl);
    if (nl) s->class_label = nl;
    uint32_t *nn = realloc(s->class_name_id, ncap * 4);
    if (nn) s->class_name_id = nn;
    uint32_t *nlc = realloc(s->class_loc, ncap * 4);
    if (nlc) s->class_loc = nlc;
    if (!nl || !nn || !nlc) return NONE;
    *cap = ncap;
  }
  uint32_t c = s->class_count++;
  s->class_label[c] = m->v[name];
  s->class_name_id[c] = name;
  s->class_loc[c] = loc;
  k->slot[h] = c + 1;
  return c;
}

/* The class name of v into buf (or a pool string); *owned when in buf. */
static const char *name_of(const struct heap_snapshot *s, struct heap_ifaces *f, uint32_t v,
                           char *buf, size_t len, int *owned) {
  uint8_t t = s->node_type[v], k = s->node_kind[t];
  *owned = 0;
  if (s->format == HEAP_FORMAT_JSC) return heap_str(s, s->node_name[v]);
  if (k == HT_HIDDEN) return "(system)";
  if (k == HT_CODE) return "(compiled code)";
  if (k == HT_OBJECT || k == HT_NATIVE) {
    const char *n = heap_str(s, s->node_name[v]);
    if (s->raw) return n;
    if (f && heap_is_plain_object(s, v)) {
      const char *iface = heap_ifaces_match(f, s, v);
      return iface ? iface : n;
    }
    int detached = k == HT_NATIVE && s->detachedness && (s->detachedness[v] & 3) == 2;
    if (!detached && n[0] != '<' && strncmp(n, "Detached <", 10) != 0) return n;
    snprintf(buf, len, "%s%s", detached ? "Detached " : "", n);
    char *sp = NULL; /* a DOM element: its tag */
    if (buf[0] == '<')
      sp = strchr(buf, ' ');
    else if (!strncmp(buf, "Detached <", 10))
      sp = strchr(buf + 10, ' ');
    if (sp && sp + 1 < buf + len) {
      sp[0] = '>';
      sp[1] = 0;
    }
    *owned = 1;
    return buf;
  }
  if (!s->raw && k == HT_CLOSURE) return "Function";
  if (!s->raw && k == HT_REGEXP) return "RegExp";
  snprintf(buf, len, "(%s)", s->node_type_names[t]);
  *owned = 1;
  return buf;
}

int heap_build_classes(struct heap_snapshot *s) {
  if (s->class_of) return 0;
  uint32_t n = s->node_count, cap = 256;
  struct names m = {0};
  struct keys k = {0};
  struct heap_ifaces *f = NULL;
  uint32_t *by_str = malloc(((size_t)s->string_count + 1) * 4); /* pool name -> name id */
  uint32_t *cls = malloc((size_t)n * 4 + 4);
  s->class_label = malloc(cap * sizeof *s->class_label);
  s->class_name_id = malloc(cap * 4);
  s->class_loc = malloc(cap * 4);
  s->class_count = 0;
  if (!by_str || !cls || !s->class_label || !s->class_name_id || !s->class_loc) goto fail;
  memset(by_str, 0xFF, ((size_t)s->string_count + 1) * 4);
  if (s->format == HEAP_FORMAT_V8 && !s->raw && !(f = heap_ifaces_build(s))) goto fail;
  uint32_t li = 0; /* s->locs is sorted by node */
  char buf[512];
  uint32_t by_type[256]; /* V8 nodes other than objects and natives: a class per type */
  memset(by_type, 0xFF, sizeof by_type);
  for (uint32_t v = 0; v < n; v++) {
    uint8_t t = s->node_type[v], kind = s->node_kind[t];
    int typed = s->format == HEAP_FORMAT_V8 && kind != HT_OBJECT && kind != HT_NATIVE;
    if (typed && by_type[t] != NONE) {
      cls[v] = by_type[t];
      continue;
    }
    int owned;
    const char *name = name_of(s, f, v, buf, sizeof buf, &owned);
    uint32_t id;
    if (!typed && !owned && s->node_name[v] < s->string_count &&
        name == heap_str(s, s->node_name[v])) {
      id = by_str[s->node_name[v]];
      if (id == NONE) id = by_str[s->node_name[v]] = intern(s, &m, name, 0);
    } else {
      /* literals and interface names live as long as the snapshot's classes: copy them */
      id = intern(s, &m, name, 1);
    }
    if (id == NONE) goto fail;
    while (li < s->loc_count && s->locs[li].node < v)
      li++;
    uint32_t loc = NONE;
    if (!s->raw && li < s->loc_count && s->locs[li].node == v &&
        s->node_kind[s->node_type[v]] == HT_OBJECT)
      loc = li;
    uint32_t c = class_for(s, &k, &m, id, loc, &cap);
    if (c == NONE) goto fail;
    cls[v] = c;
    if (typed) by_type[t] = c;
  }
  free(by_str);
  free(m.v);
  free(m.slot);
  free(k.slot);
  heap_ifaces_free(f);
  s->class_of = cls;
  return 0;
fail:
  free(by_str);
  free(cls);
  free(m.v);
  free(m.slot);
  free(k.slot);
  heap_ifaces_free(f);
  free(s->class_label);
  free(s->class_name_id);
  free(s->class_loc);
  s->class_label = NULL;
  s->class_name_id = s->class_loc = NULL;
  s->class_count = 0;
  return -1;
}

const char *heap_class_name(const struct heap_snapshot *s, uint32_t c) {
  return c < s->class_count ? s->class_label[c] : "";
}

int heap_class_location(const struct heap_snapshot *s, uint32_t c, struct heap_location *loc) {
  if (c >= s->class_count || s->class_loc[c] == NONE) return 0;
  return heap_node_location(s, s->locs[s->class_loc[c]].node, loc);
}

const char *heap_node_class(const struct heap_snapshot *s, uint32_t v) {
  return s->class_of ? heap_class_name(s, s->class_of[v]) : heap_str(s, s->node_name[v]);
}
