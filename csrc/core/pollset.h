/* core.pollset(): one descriptor that stays the same while the descriptor
 * it watches changes (an epoll set of one), so an outside loop can poll a
 * connection attempt across its phases (cqueues does the same). */
#ifndef MEMDBG_CORE_POLLSET_H
#define MEMDBG_CORE_POLLSET_H

#include "compat.h"

void pollset_register(lua_State *L);

#endif
