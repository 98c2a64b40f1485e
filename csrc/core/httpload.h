/* core.httpLoad{...}: N HTTP/1.1 requests over C keep-alive connections,
 * statuses counted (the leak hunt's --action-http). */
#ifndef MEMDBG_CORE_HTTPLOAD_H
#define MEMDBG_CORE_HTTPLOAD_H

#include "compat.h"

void httpload_register(lua_State *L);

#endif
