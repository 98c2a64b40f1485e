/* Just enough JSON to route messages without decoding them (the transport,
 * the snapshot sink and the mock inspector share it). */
#ifndef MEMDBG_CORE_JSONSCAN_H
#define MEMDBG_CORE_JSONSCAN_H

#include <stddef.h>

/* Finds member `key` of the object whose '{' is at p. Returns the start of its
 * value (and its end in *vend), or NULL. */
const char *js_member(const char *p, const char *end, const char *key, const char **vend);
/* Skips whitespace. */
const char *js_ws(const char *p, const char *end);
/* Skips one JSON value starting at p; NULL when malformed or cut short. */
const char *js_skip(const char *p, const char *end);
/* Decodes a JSON string body (between the quotes) in place; returns the new
 * length, or -1 on a bad escape. */
long js_unescape(char *s, size_t len);
/* Decodes in place the string body at s (just after its opening quote), up
 * to its closing quote, in one pass: returns the decoded length and the
 * closing quote in *close (the bytes from there on are untouched), or -1 on
 * a bad escape or a string that does not end before `end`. */
long js_unescape_string(char *s, const char *end, const char **close);
/* Parses an integer value at p; returns 1 when it is one. */
int js_int(const char *p, const char *end, long long *out);

#endif
