/* libFuzzer target for the snapshot sink's routing (csrc/core/sink.c): every
 * inspector message the runtime sends while a snapshot streams is offered to
 * sink_offer(), which decodes chunk strings in place; for an attached
 * Chromium session it reads the trailing sessionId, for a Node/Deno worker it
 * unescapes the NodeWorker wrapper and then the chunk inside it (issue 16).
 * Each input is offered to the three routes (the connection's own target, a
 * flat session "S1", a worker "1"), in a buffer of exactly its size plus the
 * terminating NUL the transport guarantees, so any read or write past it is
 * an ASan report. Chunks go to a scratch file under $TMPDIR.
 *
 *   build/fuzz/fuzz_sink -dict=csrc/fuzz/sink.dict CORPUS_DIR csrc/fuzz/corpus/sink */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sink.h"

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      fprintf(stderr, "fuzz_sink: invariant failed: %s (line %d)\n", #c, __LINE__);                \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static char scratch[256];

static void offer(const uint8_t *data, size_t size, const sink_route_t *route) {
  sink_t s;
  char err[256];
  if (sink_open(&s, scratch, "HeapProfiler.addHeapSnapshotChunk", -1, "chunk", route, err,
                sizeof err) != 0)
    abort();
  char *msg = malloc(size + 1);
  if (!msg) abort();
  memcpy(msg, data, size);
  msg[size] = '\0';
  size_t len = size;
  char *replacement = NULL;
  long long before = s.bytes;
  int taken = sink_offer(&s, msg, &len, &replacement);
  CHECK(len <= size);
  CHECK(replacement == NULL); /* only the reply route makes one */
  CHECK(s.bytes >= before && s.bytes <= (long long)size);
  if (!taken) CHECK(s.bytes == 0);
  free(msg);
  sink_finish(&s, NULL, 0, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!scratch[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/fuzz_sink.%d.partial", tmp ? tmp : "/tmp", (int)getpid());
  }
  sink_route_t top = {NULL, NULL}, flat = {"S1", NULL}, worker = {NULL, "1"};
  offer(data, size, &top);
  offer(data, size, &flat);
  offer(data, size, &worker);
  /* the reply route (Bun's Heap.snapshot) */
  sink_t s;
  char err[256];
  if (sink_open(&s, scratch, NULL, 7, "snapshotData", NULL, err, sizeof err) != 0) abort();
  char *msg = malloc(size + 1);
  if (!msg) abort();
  memcpy(msg, data, size);
  msg[size] = '\0';
  size_t len = size;
  char *replacement = NULL;
  if (sink_offer(&s, msg, &len, &replacement)) CHECK(replacement != NULL);
  free(replacement);
  free(msg);
  sink_finish(&s, NULL, 0, err, sizeof err);
  return 0;
}
