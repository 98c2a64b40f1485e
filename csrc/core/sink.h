/* The snapshot sink: a snapshot stream written to PATH.partial, renamed on
 * success, without the chunks ever reaching Lua. */
#ifndef MEMDBG_CORE_SINK_H
#define MEMDBG_CORE_SINK_H

#include <stddef.h>

typedef struct sink {
  int active;
  int fd;
  char *path;   /* the partial file being written */
  char *method; /* event whose params.<field> is a chunk, or NULL */
  char *prefix; /* {"method":"<method>","params":{"<field>":" : the common shape */
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
/* Closes the file. With final_path, fsyncs and renames into place; without,
 * removes the partial unless keep is set. Returns 0 on success. */
int sink_finish(sink_t *s, const char *final_path, int keep, char *err, size_t errlen);

#endif
