/* core.metricsServe: a loopback HTTP endpoint serving published metrics text
 * from a thread of its own (`memdbg monitor --openmetrics HOST:PORT`). */
#ifndef MEMDBG_CORE_METRICSD_H
#define MEMDBG_CORE_METRICSD_H

#include "compat.h"

/* Adds metricsServe to the module table on top of the stack. */
void metricsd_register(lua_State *L);

#endif
