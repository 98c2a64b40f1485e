/* Parallel parsing of the nodes/edges number arrays (columns.c). */
#ifndef MEMDBG_HEAP_COLUMNS_H
#define MEMDBG_HEAP_COLUMNS_H

#include "parser.h"

/* Cursor just after the array's '['; the columns are allocated for exactly
 * the declared count (P->node_cap / P->edge_cap). Returns 1 with *numbers
 * read and the cursor after ']', 0 to let the caller parse serially, or
 * fails through the parser's scanner. */
int columns_parse_split(struct parser *P, int edges, uint64_t *numbers);

/* Smallest array (bytes) worth splitting; the specs lower it to exercise the
 * split path on small files. */
extern size_t heap_split_min;

#endif
