/* HTTP/1.x response heads and chunked bodies, for discovery and the
 * websocket upgrade. Pure functions over bytes a remote peer sent. */
#ifndef MEMDBG_CORE_HTTPHEAD_H
#define MEMDBG_CORE_HTTPHEAD_H

#include <stddef.h>
#include <stdint.h>

/* Length of the head (through the blank line) in buf, or 0 if incomplete. */
size_t httphead_length(const char *buf, size_t len);
/* The status code of "HTTP/1.x NNN reason", or -1 when the head is not HTTP. */
int httphead_status(const char *head, size_t len);
/* Finds header `name` (case-insensitive); its value, trimmed, in *v and *vlen. */
int httphead_header(const char *head, size_t len, const char *name, const char **v, size_t *vlen);
/* Whether a header's comma-separated value contains token (case-insensitive). */
int httphead_has_token(const char *v, size_t vlen, const char *token);

/* Whether text can go into a request line or header as is: no control
 * characters, spaces or DEL (a URL from a discovery answer must not be able
 * to end the line and add headers of its own). */
int httphead_clean(const char *s);

/* Transfer-Encoding: chunked, decoded incrementally. */
typedef struct {
  int state;
  uint64_t left; /* bytes left in the current chunk, or the size being read */
  int digits;
} chunked_t;

/* Decodes n bytes of chunked body from in into out (out may be in: the
 * output never runs ahead of the input). Returns the bytes written, or -1
 * when the encoding is broken. *done is set once the last chunk ended. */
long chunked_feed(chunked_t *c, const char *in, size_t n, char *out, int *done);

#endif
