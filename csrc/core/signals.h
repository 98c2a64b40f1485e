/* signals.c: Ctrl-C, SIGTERM and SIGHUP as a Lua error, for the command line. */
#ifndef MEMDBG_CORE_SIGNALS_H
#define MEMDBG_CORE_SIGNALS_H

#include "compat.h"

/* core.trapSignals(), core.caughtSignal() */
void signals_register(lua_State *L);

#endif
