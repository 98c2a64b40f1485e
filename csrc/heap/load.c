/* The engine's entry points: parse a buffer or a mapped file into a
 * snapshot and run the analyses every caller needs (retainer index,
 * dominators, retained sizes, distances); the id-only pass of leak
 * detection; freeing; error codes. MEMDBG_HEAP_TIMING=1 prints each phase's
 * wall and CPU time and the RSS to stderr. */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "heap/mapguard.h"
#include "parser.h"

const char *heap_err_code(int err) {
  switch (err) {
  case HEAP_OK:
    return "OK";
  case HEAP_ENOENT:
    return "ENOENT";
  case HEAP_EIO:
    return "EIO";
  case HEAP_EFORMAT:
    return "EFORMAT";
  case HEAP_ETRUNCATED:
    return "ETRUNCATED";
  case HEAP_ERANGE:
    return "ERANGE";
  case HEAP_ENOMEM:
    return "ENOMEM";
  case HEAP_EIDS:
    return "EIDS";
  default:
    return "EUNKNOWN";
  }
}

void heap_free(struct heap_snapshot *s) {
  if (!s) return;
  for (uint32_t i = 0; i < s->node_type_count; i++)
    free(s->node_type_names[i]);
  for (uint32_t i = 0; i < s->edge_type_count; i++)
    free(s->edge_type_names[i]);
  free(s->node_type_names);
  free(s->edge_type_names);
  free(s->node_type);
  free(s->node_name);
  free(s->node_id);
  free(s->self16);
  heap_wide_free(&s->self_wide);
  free(s->first_edge);
  free(s->edge_from_hint);
  free(s->trace_node);
  free(s->detachedness);
  free(s->edge_to);
  free(s->edge_shape);
  free(s->edge_words);
  free(s->wide_name_word);
  free(s->wide_name);
  free(s->pool);
  free(s->str_off);
  free(s->str_wrap);
  free(s->trace_fn);
  free(s->trace_tree);
  free(s->locs);
  free(s->scripts);
  free(s->parent_edge);
  free(s->nonessential);
  free(s->essential_to);
  free(s->idom);
  free(s->dom_order);
  free(s->retained32);
  heap_wide_free(&s->retained_wide);
  free(s->distance);
  free(s->by_id);
  for (uint32_t i = 0; i < s->class_string_count; i++)
    free(s->class_strings[i]);
  free(s->class_strings);
  free(s->class_of);
  free(s->class_name_id);
  free(s->class_loc);
  free(s->class_label);
  free(s->dom_first);
  free(s->dom_child);
  free(s);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void phase(const char *name, double *t) {
  static _Thread_local int on = -1; /* per thread: leak finding loads on two */
  static _Thread_local double cpu_last;
  if (on < 0) on = getenv("MEMDBG_HEAP_TIMING") != NULL;
  double n = now_ms(), c = on ? cpu_ms() : 0;
  if (on && name) {
    long rss = 0, hwm = 0, anon = 0, file = 0;
    char line[128];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f)) {
      if (!strncmp(line, "VmRSS:", 6)) rss = atol(line + 6);
      if (!strncmp(line, "VmHWM:", 6)) hwm = atol(line + 6);
      if (!strncmp(line, "RssAnon:", 8)) anon = atol(line + 8);
      if (!strncmp(line, "RssFile:", 8)) file = atol(line + 8);
    }
    if (f) fclose(f);
    fprintf(stderr,
            "heap: %-22s %8.1f ms wall %8.1f ms cpu  rss %ld MB (anon %ld file %ld) peak %ld MB\n",
            name, n - *t, c - cpu_last, rss >> 10, anon >> 10, file >> 10, hwm >> 10);
  }
  cpu_last = c;
  *t = n;
}

/* DevTools' self-size attribution and DOM state propagation: both only
 * read the graph (and write self sizes, DOM states), so they run beside
 * the essential-edge marks. */
static void *attribution_thread(void *arg) {
  struct heap_snapshot *s = arg;
  if (!s->raw && heap_attribute_self_sizes(s)) return arg;
  heap_mark_detached_roots(s);
  return !s->raw && heap_propagate_dom_state(s) ? arg : NULL;
}

static void *distances_thread(void *arg) {
  return heap_compute_distances(arg) ? arg : NULL;
}

/* Runs fn(s) on a second thread (on this one when none can start); join
 * returns whether it failed. */
struct side {
  pthread_t th;
  int threaded;
  void *res;
};
static void side_start(struct side *t, void *(*fn)(void *), struct heap_snapshot *s) {
  t->threaded = s->node_count > 100000 && pthread_create(&t->th, NULL, fn, s) == 0;
  t->res = t->threaded ? NULL : fn(s);
}
static int side_join(struct side *t) {
  if (t->threaded) pthread_join(t->th, &t->res);
  return t->res != NULL;
}

/* The whole pipeline after the text is read, in the order that keeps the
 * peak lowest, two things at a time where their memory allows:
 * - the essential-edge marks, beside DevTools' self-size attribution and
 *   DOM state propagation (all small next to the dominator pass, which
 *   starts once they are done);
 * - Lengauer-Tarjan's numbering and main loop alone (the peak of a load);
 * - its results (idom, the dominator tree's order, retained sizes from the
 *   attributed sizes) beside the distances from the root. */
static int analyse(struct heap_snapshot *s, char *err, size_t errlen) {
  double t;
  phase(NULL, &t);
  /* columns the file declares but never fills are dropped (Node writes
   * trace_node_id 0 unless it tracked allocations, detachedness 0 outside
   * browsers) */
  if (s->trace_node && !s->trace_tree_count) {
    free(s->trace_node);
    s->trace_node = NULL;
  }
  if (s->detachedness) {
    uint32_t v = 0;
    while (v < s->node_count && !s->detachedness[v])
      v++;
    if (v == s->node_count) {
      free(s->detachedness);
      s->detachedness = NULL;
    }
  }
  struct side th;
  side_start(&th, attribution_thread, s);
  int rc = heap_build_graph(s, err, errlen);
  int failed = side_join(&th);
  if (rc) return rc;
  phase("graph+attribution", &t);
  struct heap_lt *lt = failed ? NULL : heap_dominators_begin(s);
  failed = !lt;
  phase("dominators", &t);
  side_start(&th, distances_thread, s);
  failed = heap_dominators_end(s, lt) || failed;
  failed = side_join(&th) || failed;
  phase("results+distances", &t);
  if (failed) {
    snprintf(err, errlen, "out of memory computing dominators and distances");
    return HEAP_ENOMEM;
  }
  return HEAP_OK;
}

/* glibc serves an allocation from its heap, not its own mapping, once it
 * is below the mmap threshold, and raises that threshold (up to 32 MB)
 * each time a mapped block is freed; a freed node-sized array then stays
 * in the process instead of going back to the system. Pinning the
 * threshold at glibc's own starting value (128 KB) keeps every big array
 * in a mapping of its own, returned whole when freed. */
static void pin_mmap_threshold(void) {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

/* Parses the text into a snapshot without the graph analyses: every check
 * of the format, so a file this accepts is one a full load accepts too.
 * With `keep`, the source locations are left for read_locations() and the
 * parser state is handed back for it; with check_only their numbers are
 * checked and nothing is kept (leak finding's baseline and target). */
static int parse_only(const char *buf, size_t len, int release, int check_only,
                      struct heap_snapshot **out, struct parser **keep, char *err, size_t errlen,
                      heap_progress_fn progress, void *ud) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, pin_mmap_threshold);
  struct parser *P = calloc(1, sizeof *P);
  *out = NULL;
  if (keep) *keep = NULL;
  if (!P) {
    snprintf(err, errlen, "out of memory");
    return HEAP_ENOMEM;
  }
  parser_init(P, buf, len, err, errlen, progress, ud);
  P->sc.release_pages = release;
  P->defer_locations = keep != NULL;
  P->check_only = check_only;
  P->s = calloc(1, sizeof *P->s);
  if (!P->s) {
    free(P);
    snprintf(err, errlen, "out of memory");
    return HEAP_ENOMEM;
  }
  if (setjmp(P->sc.fail)) {
    int code = P->sc.code;
    if (P->words_running) { /* it writes into P->s */
      pthread_join(P->words_th, NULL);
      P->words_running = 0;
    }
    heap_free(P->s);
    parser_cleanup(P);
    free(P);
    return code;
  }
  double t;
  phase(NULL, &t);
  scan_checkpoint(&P->sc);
  parse_top(P);
  /* the whole text is read (the locations aside, a few pages): none of it
   * needs to stay in memory */
  if (release) madvise((void *)buf, len, MADV_DONTNEED);
  phase("parse", &t);
  if (P->jsc)
    jsc_finish(P);
  else
    finish_v8(P);
  heap_build_edge_hints(P->s); /* without them (out of memory) heap_edge_from searches all nodes */
  phase("finish", &t);
  if (getenv("MEMDBG_HEAP_TIMING"))
    fprintf(stderr, "heap: %u nodes, %u edges, %u strings, %u distinct edge words\n",
            P->s->node_count, P->s->edge_count, P->s->string_count, P->s->edge_word_count);
  struct heap_snapshot *s = P->s;
  if (keep) {
    *keep = P;
  } else {
    parser_cleanup(P);
    free(P);
  }
  if (progress) progress(ud, len, len);
  *out = s;
  return HEAP_OK;
}

/* The source locations parse_only() left, read now that the analyses'
 * working memory is gone; frees the parser state. */
static int read_locations(struct parser *P, const char *buf, size_t len, int release) {
  volatile int code = HEAP_OK;
  if (setjmp(P->sc.fail))
    code = P->sc.code;
  else
    parser_read_locations(P);
  if (release) madvise((void *)buf, len, MADV_DONTNEED);
  parser_cleanup(P);
  free(P);
  return code;
}

static int parse_buffer(const char *buf, size_t len, int release, const struct heap_load_opts *o,
                        struct heap_snapshot **out, char *err, size_t errlen,
                        heap_progress_fn progress, void *ud) {
  struct heap_snapshot *s = NULL;
  struct parser *P = NULL;
  int rc = parse_only(buf, len, release, 0, &s, &P, err, errlen, progress, ud);
  if (rc || !s) return rc ? rc : HEAP_ENOMEM;
  s->raw = o && o->raw;
  s->want_parent_edges = o && o->parent_edges;
  rc = analyse(s, err, errlen);
  if (rc) {
    parser_cleanup(P);
    free(P);
  } else {
    double t;
    phase(NULL, &t);
    rc = read_locations(P, buf, len, release);
    phase("locations", &t);
  }
  if (rc) {
    heap_free(s);
    return rc;
  }
  *out = s;
  return HEAP_OK;
}

int heap_parse_memory_ex(const char *buf, size_t len, struct heap_snapshot **out, char *err,
                         size_t errlen, heap_progress_fn progress, void *ud) {
  return parse_buffer(buf, len, 0, NULL, out, err, errlen, progress, ud);
}

int heap_parse_memory(const char *buf, size_t len, struct heap_snapshot **out, char *err,
                      size_t errlen) {
  return parse_buffer(buf, len, 0, NULL, out, err, errlen, NULL, NULL);
}

int heap_parse_memory_opts(const char *buf, size_t len, const struct heap_load_opts *o,
                           struct heap_snapshot **out, char *err, size_t errlen) {
  return parse_buffer(buf, len, 0, o, out, err, errlen, NULL, NULL);
}

static const char *file_kind(const struct stat *st) {
  if (S_ISFIFO(st->st_mode)) return "a FIFO";
  if (S_ISDIR(st->st_mode)) return "a directory";
  if (S_ISSOCK(st->st_mode)) return "a socket";
  if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) return "a device";
  return "a special file";
}

/* Maps a file read-only; *len 0 gives a static empty buffer. Only a regular
 * file: opened non-blocking, so a FIFO cannot hold open() forever. The
 * mapping is guarded against the file shrinking (mapguard.h). */
static int map_file(const char *path, const char **buf, size_t *len, int *guard, char *err,
                    size_t errlen) {
  *guard = -1;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    snprintf(err, errlen, "%s: %s", path, strerror(e));
    return e == ENOENT ? HEAP_ENOENT : HEAP_EIO;
  }
  struct stat st = {0};
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s: not a regular file (%s): snapshots are read from regular files only",
             path, file_kind(&st));
    close(fd);
    return HEAP_EIO;
  }
  *len = (size_t)st.st_size;
  if (*len == 0) {
    *buf = "";
    close(fd);
    return HEAP_OK;
  }
  void *m = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m == MAP_FAILED) {
    snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
    return HEAP_EIO;
  }
  madvise(m, *len, MADV_SEQUENTIAL);
  *guard = mapguard_begin(m, *len);
  *buf = m;
  return HEAP_OK;
}

/* Unmaps; a file that shrank under the mapping turns rc into ETRUNCATED. */
static int unmap_file(const char *path, const char *buf, size_t len, int guard, int rc, char *err,
                      size_t errlen) {
  int shrank = mapguard_end(guard);
  if (len) munmap((void *)buf, len);
  if (!shrank) return rc;
  struct stat st;
  long long now = stat(path, &st) == 0 ? (long long)st.st_size : -1;
  snprintf(err, errlen, "the file shrank while it was read (from %zu to %lld bytes)", len, now);
  return HEAP_ETRUNCATED;
}

static void prefix_path(const char *path, char *err, size_t errlen) {
  /* "path: message" so the CLI can print it as is */
  char *msg = strdup(err);
  if (!msg) return;
  snprintf(err, errlen, "%s: %s", path, msg);
  free(msg);
}

int heap_load_file(const char *path, struct heap_snapshot **out, char *err, size_t errlen,
                   heap_progress_fn progress, void *ud) {
  return heap_load_file_opts(path, NULL, out, err, errlen, progress, ud);
}

int heap_load_file_opts(const char *path, const struct heap_load_opts *o,
                        struct heap_snapshot **out, char *err, size_t errlen,
                        heap_progress_fn progress, void *ud) {
  const char *buf;
  size_t len;
  *out = NULL;
  int guard;
  int rc = map_file(path, &buf, &len, &guard, err, errlen);
  if (rc) return rc;
  rc = parse_buffer(buf, len, len > 0, o, out, err, errlen, progress, ud);
  rc = unmap_file(path, buf, len, guard, rc, err, errlen);
  if (rc && *out) {
    heap_free(*out);
    *out = NULL;
  }
  if (rc) prefix_path(path, err, errlen);
  return rc;
}

/* The edge names a full load checks while it marks the essential edges. */
static int check_edge_names(const struct heap_snapshot *s, char *err, size_t errlen) {
  if (s->format != HEAP_FORMAT_V8) return HEAP_OK;
  for (uint32_t v = 0; v < s->node_count; v++)
    for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++) {
      uint8_t k = heap_edge_kind_at(s, v, e);
      uint32_t name = heap_edge_name_at(s, v, e);
      if (k != ET_ELEMENT && k != ET_HIDDEN && name >= s->string_count) {
        snprintf(err, errlen, "at byte %llu: edge %u names string %u but there are only %u strings",
                 (unsigned long long)s->edges_offset, e, name, s->string_count);
        return HEAP_EFORMAT;
      }
    }
  return HEAP_OK;
}

int heap_load_unanalysed(const char *path, struct heap_snapshot **out, char *err, size_t errlen,
                         heap_progress_fn progress, void *ud) {
  const char *buf;
  size_t len;
  struct heap_snapshot *s = NULL;
  *out = NULL;
  int guard;
  int rc = map_file(path, &buf, &len, &guard, err, errlen);
  if (rc) return rc;
  rc = parse_only(buf, len, len > 0, 1, &s, NULL, err, errlen, progress, ud);
  rc = unmap_file(path, buf, len, guard, rc, err, errlen);
  if (!rc && s) rc = check_edge_names(s, err, errlen);
  if (!rc && s && s->node_count >= HEAP_MAX_NODES) {
    snprintf(err, errlen, "%u nodes: more than this engine supports (%u)", s->node_count,
             HEAP_MAX_NODES);
    rc = HEAP_ERANGE;
  }
  if (rc || !s) {
    heap_free(s);
    prefix_path(path, err, errlen);
    return rc ? rc : HEAP_ENOMEM;
  }
  *out = s;
  return HEAP_OK;
}
