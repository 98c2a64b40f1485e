/* The snapshot sink: a snapshot stream written to a new private file
 * (files.h) and linked into place on success, without the chunks ever
 * reaching Lua. */
#ifndef MEMDBG_CORE_SINK_H
#define MEMDBG_CORE_SINK_H

#include <stddef.h>

#include "core/files.h"

typedef struct sink {
  int active;
  int no_clobber;
  outfile_t out;  /* the file being written */
  char kept[600]; /* where a failed stream's data was kept, if asked */
  char *method;   /* event whose params.<field> is a chunk, or NULL */
  char *prefix;   /* {"method":"<method>","params":{"<field>":" : the common shape */
  size_t prefix_len;
  long long reply_id; /* or: the reply whose result.<field> is the whole data */
  char *field;
  long long bytes;
  long long synced; /* writeback started up to here */
  long long chunks;
  char err[256];
  const char *errcode;
} sink_t;

int sink_open(sink_t *s, const char *path, const char *method, long long reply_id,
              const char *field, char *err, size_t errlen);
/* Offers a received message (NUL-terminated, *len bytes) to the sink.
 * Returns 1 when the sink consumed it, 0 when it is not the sink's; either
 * way it may have been modified in place (*len updated). For a consumed
 * reply, *replacement is set to a short reply text for Lua. */
int sink_offer(sink_t *s, char *msg, size_t *len, char **replacement);
/* Closes the file. With final_path, fsyncs and links it into place; without,
 * it is gone, unless keep is set (then s->kept names where it is). Returns 0
 * on success; s->errcode then names a failure's code. */
int sink_finish(sink_t *s, const char *final_path, int keep, char *err, size_t errlen);

#endif
