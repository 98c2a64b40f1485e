/* The snapshot sink: a snapshot stream written to a new private file
 * (files.h) and linked into place on success, without the chunks ever
 * reaching Lua. */
#ifndef MEMDBG_CORE_SINK_H
#define MEMDBG_CORE_SINK_H

#include <stddef.h>

#include "core/files.h"

/* Whose chunks a sink takes: the connection's own target (both NULL), an
 * attached Chromium session (session: the sessionId its events end with) or
 * a worker reached through Node's NodeWorker domain (worker: the sessionId
 * of NodeWorker.receivedMessageFromWorker, whose params.message is the
 * worker's own message as a JSON string). */
typedef struct sink_route {
  const char *session;
  const char *worker;
} sink_route_t;

typedef struct sink {
  int active;
  int clobber;    /* CLOBBER_OWN, _NEVER, _FORCE */
  outfile_t out;  /* the file being written */
  char kept[600]; /* where a failed stream's data was kept, if asked */
  char *method;   /* event whose params.<field> is a chunk, or NULL */
  char *prefix;   /* how a chunk event begins: {"method":"<method>","params":{"<field>":"
                   * (a worker's: the NodeWorker wrapper, then that, escaped) */
  size_t prefix_len;
  size_t wrap_len;  /* a worker's: where the wrapped message's string begins; else 0 */
  size_t inner_len; /* a worker's: the length of the plain prefix, once unescaped */
  char *session;    /* an attached session's id, or NULL */
  size_t session_len;
  long long reply_id; /* or: the reply whose result.<field> is the whole data */
  char *field;
  long long bytes;
  long long synced; /* writeback started up to here */
  long long chunks;
  char err[256];
  const char *errcode;
} sink_t;

/* route may be NULL (the connection's own target). */
int sink_open(sink_t *s, const char *path, const char *method, long long reply_id,
              const char *field, const sink_route_t *route, char *err, size_t errlen);
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
