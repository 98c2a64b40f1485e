/* The discovery HTTP GET object (core.httpStart) and core.httpGet. */
#ifndef MEMDBG_CORE_HTTP_H
#define MEMDBG_CORE_HTTP_H

#include "compat.h"

/* Sets core.httpStart and core.httpGet on the table at the top of the stack. */
void http_register(lua_State *L);

#endif
