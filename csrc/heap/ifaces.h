/* Names for plain objects by their properties (interfaces.c), as DevTools
 * names them: "{a, b, c}". Private to the engine. */
#ifndef MEMDBG_HEAP_IFACES_H
#define MEMDBG_HEAP_IFACES_H

#include "heap.h"

struct heap_ifaces;
/* Infers the interface definitions of s's plain objects (type object, name
 * "Object"). Returns NULL when out of memory. */
struct heap_ifaces *heap_ifaces_build(const struct heap_snapshot *s);
/* The interface name of plain object v, or NULL when none matches. */
const char *heap_ifaces_match(struct heap_ifaces *f, const struct heap_snapshot *s, uint32_t v);
int heap_is_plain_object(const struct heap_snapshot *s, uint32_t v);
void heap_ifaces_free(struct heap_ifaces *f);

#endif
