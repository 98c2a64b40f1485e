/* The websocket connection object (core.wsOpen) and its Lua methods. */
#ifndef MEMDBG_CORE_WS_H
#define MEMDBG_CORE_WS_H

#include "compat.h"

/* Sets core.wsOpen on the table at the top of the stack. */
void ws_register(lua_State *L);

#endif
