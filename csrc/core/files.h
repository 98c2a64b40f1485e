/* Files memdbg writes (files.c): a new private file (O_TMPFILE, or NAME
 * created exclusively) that appears at its destination only when published. */
#ifndef MEMDBG_CORE_FILES_H
#define MEMDBG_CORE_FILES_H

#include <stddef.h>
#include <sys/types.h>

#include "compat.h"

#define E_PATH "EPATH"   /* a destination memdbg must not write (directory, link, device...) */
#define E_EXIST "EEXIST" /* the destination exists and may not be replaced */

/* The mark on every file memdbg creates (an xattr): what may be replaced. */
#define MEMDBG_MARK "user.memdbg"
#define MEMDBG_MARK_VALUE "memdbg"

/* May publishing replace an existing regular file? */
enum { CLOBBER_OWN = 0 /* only one memdbg marked */, CLOBBER_NEVER = 1, CLOBBER_FORCE = 2 };

typedef struct outfile {
  int fd;
  int published; /* linked into place (or kept): close leaves it */
  char *name;    /* where a kept file goes, and the named fallback's base */
  char *named;   /* the named fallback file while unpublished, else NULL */
  long long bytes;
  int marked; /* the mark is set (0: the filesystem has no user xattrs) */
} outfile_t;

int outfile_open(outfile_t *f, const char *name, char *err, size_t errlen);
int outfile_write(outfile_t *f, const char *p, size_t n, char *err, size_t errlen);
/* Links the file at dest, replacing an existing regular file atomically only
 * as `clobber` allows (E_EXIST otherwise; E_PATH when dest is not a regular
 * file). *code is set on failure. */
int outfile_publish(outfile_t *f, const char *dest, int clobber, char *err, size_t errlen,
                    const char **code);
/* 1 when path (not followed) carries memdbg's mark, 0 when not, -1 when its
 * filesystem has no user xattrs. */
int file_marked(const char *path);
/* Links an unpublished file at its name, or NAME-XXXXXX when that exists. */
int outfile_keep(outfile_t *f, char *kept, size_t keptlen);
/* Closes; an unpublished file is gone. */
int outfile_close(outfile_t *f);
const char *file_kind_of(mode_t mode);

/* The clobber mode of a Lua options table {noClobber=, force=} at idx (or
 * of a boolean noClobber). */
int clobber_of(lua_State *L, int idx);

/* core.fileKind(path), core.fileMarked(path), core.createFile(name) */
void files_register(lua_State *L);

#endif
