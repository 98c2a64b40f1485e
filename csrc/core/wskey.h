/* The websocket handshake's key and its expected answer (RFC 6455 4.1):
 * Sec-WebSocket-Accept = base64(SHA-1(key + GUID)). */
#ifndef MEMDBG_CORE_WSKEY_H
#define MEMDBG_CORE_WSKEY_H

#include <stddef.h>

/* SHA-1 of n bytes into out[20]. */
void wskey_sha1(const void *data, size_t n, unsigned char out[20]);
/* Base64 of n bytes into out (4 * ceil(n / 3) + 1 bytes, NUL-terminated). */
void wskey_base64(const unsigned char *in, size_t n, char *out);
/* A fresh random key: 24 base64 characters and a NUL. */
void wskey_make(char key[25]);
/* The Sec-WebSocket-Accept value for key: 28 characters and a NUL. */
void wskey_accept(const char *key, char out[29]);
/* Fills n bytes with randomness (getrandom; masks and keys). */
void wskey_random(void *out, size_t n);

#endif
