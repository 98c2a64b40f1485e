/* Files memdbg writes (files.c): a new private file (O_TMPFILE, or NAME
 * created exclusively) that appears at its destination only when published. */
#ifndef MEMDBG_CORE_FILES_H
#define MEMDBG_CORE_FILES_H

#include <stddef.h>
#include <sys/types.h>

#include "compat.h"

#define E_PATH "EPATH"   /* a destination memdbg must not write (directory, link, device...) */
#define E_EXIST "EEXIST" /* the destination exists and noClobber was asked for */

typedef struct outfile {
  int fd;
  int published; /* linked into place (or kept): close leaves it */
  char *name;    /* where a kept file goes, and the named fallback's base */
  char *named;   /* the named fallback file while unpublished, else NULL */
  long long bytes;
} outfile_t;

int outfile_open(outfile_t *f, const char *name, char *err, size_t errlen);
int outfile_write(outfile_t *f, const char *p, size_t n, char *err, size_t errlen);
/* Links the file at dest: exclusively with no_clobber (E_EXIST when dest
 * exists), else replacing dest atomically when it is a regular file (E_PATH
 * when it is anything else). *code is set on failure. */
int outfile_publish(outfile_t *f, const char *dest, int no_clobber, char *err, size_t errlen,
                    const char **code);
/* Links an unpublished file at its name, or NAME-XXXXXX when that exists. */
int outfile_keep(outfile_t *f, char *kept, size_t keptlen);
/* Closes; an unpublished file is gone. */
int outfile_close(outfile_t *f);
const char *file_kind_of(mode_t mode);

/* core.fileKind(path), core.createFile(name) */
void files_register(lua_State *L);

#endif
