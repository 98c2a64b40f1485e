/* A mapped snapshot file that shrinks while it is read (truncated, rewritten
 * in place) would kill the process with SIGBUS on the first page past its new
 * end. While a mapping is guarded, such a fault maps zero pages over the rest
 * of it instead (the parser then stops at the zeros), and mapguard_end()
 * reports it so the load fails with ETRUNCATED. */
#ifndef MEMDBG_MAPGUARD_H
#define MEMDBG_MAPGUARD_H

#include <stddef.h>

/* Guards [base, base+len); returns a slot for mapguard_end, or -1 when all
 * slots are taken (the mapping is then unguarded). */
int mapguard_begin(const void *base, size_t len);
/* Ends the guard; returns 1 when the file shrank under the mapping. */
int mapguard_end(int slot);

#endif
