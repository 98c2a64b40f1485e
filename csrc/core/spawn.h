/* core.spawn(cmd): a shell command in a process group of its own, its
 * stderr forwarded and its tail kept (the leak hunt's --action-cmd). */
#ifndef MEMDBG_CORE_SPAWN_H
#define MEMDBG_CORE_SPAWN_H

#include "compat.h"

void spawn_register(lua_State *L);

#endif
