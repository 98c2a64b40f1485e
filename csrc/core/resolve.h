/* Host names to addresses without blocking (core.resolveStart), and the
 * address predicates the loopback rule needs (core.addressFamily,
 * core.isLoopback). */
#ifndef MEMDBG_CORE_RESOLVE_H
#define MEMDBG_CORE_RESOLVE_H

#include "compat.h"

/* Sets core.resolveStart, core.addressFamily, core.isLoopback on the table at
 * the top of the stack. */
void resolve_register(lua_State *L);

#endif
