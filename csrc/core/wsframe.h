/* RFC 6455 frame headers: parsing the server's, writing the client's. */
#ifndef MEMDBG_CORE_WSFRAME_H
#define MEMDBG_CORE_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

enum { WS_CONT = 0, WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

typedef struct {
  int fin, opcode, rsv, masked;
  uint64_t len;          /* payload length */
  size_t hlen;           /* header length, mask key included */
  unsigned char mask[4]; /* when masked */
} wsframe_t;

/* Parses the frame header at p (n bytes available): 1 when complete, 0 when
 * more bytes are needed, -1 for a length with its top bit set (a protocol
 * error; lengths that are not minimally encoded are accepted). */
int wsframe_parse(const unsigned char *p, size_t n, wsframe_t *f);
/* Writes a final, masked client frame header into h (at most 14 bytes). */
size_t wsframe_header(unsigned char *h, int opcode, uint64_t len, const unsigned char mask[4]);
/* XORs n bytes with the mask key, starting at key offset 0. */
void wsframe_mask(unsigned char *p, size_t n, const unsigned char mask[4]);

#endif
