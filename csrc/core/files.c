/* Files memdbg writes: created exclusively, never through a link, in the
 * directory of their destination, and linked into place only when complete.
 *
 * A new file is an unnamed O_TMPFILE (mode 0600) in the destination's
 * directory, so nothing is visible while it is written and nothing is left
 * behind if the process dies. Where the filesystem has no O_TMPFILE (or
 * MEMDBG_NO_O_TMPFILE=1), it is a named file created with O_EXCL (which
 * never follows a link) as NAME, or NAME-XXXXXX when NAME exists. Either is
 * marked as memdbg's (the xattr user.memdbg, set with fsetxattr before it has
 * a name) where the filesystem has user xattrs.
 *
 * Publishing links it in: by link(2) when the destination is absent (fails
 * when the name appears meanwhile), else by exchanging it with an existing
 * regular file (renameat2 RENAME_EXCHANGE) and keeping the exchange only when
 * the file it displaced is one memdbg marked (or CLOBBER_FORCE): the check is
 * made on the very file that was displaced, so a file put there in between is
 * swapped back, never lost. Without RENAME_EXCHANGE, rename(2) right after
 * the check (a window of a few microseconds). CLOBBER_NEVER only links. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core/files.h"
#include "core/util.h"

#define OUTFILE_MT "memdbg.core.outfile"

static void random_suffix(char *out, size_t n) {
  static const char abc[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char r[16];
  if (n > sizeof r) n = sizeof r;
  if (getrandom(r, n, 0) != (ssize_t)n) {
    /* no entropy source: the exclusive create still protects us */
    for (size_t i = 0; i < n; i++)
      r[i] = (unsigned char)((unsigned)rand() ^ (unsigned)getpid() >> i);
  }
  for (size_t i = 0; i < n; i++)
    out[i] = abc[r[i] % (sizeof abc - 1)];
  out[n] = '\0';
}

/* The mark on every file memdbg creates: 1 set, 0 not set (the filesystem
 * has no user xattrs, or refused). */
static int mark_fd(int fd) {
  return fsetxattr(fd, MEMDBG_MARK, MEMDBG_MARK_VALUE, sizeof MEMDBG_MARK_VALUE - 1, 0) == 0;
}

int file_marked(const char *path) {
  char v[64];
  if (lgetxattr(path, MEMDBG_MARK, v, sizeof v) >= 0) return 1;
  if (errno == ENOTSUP || errno == EOPNOTSUPP) return -1;
  return 0;
}

const char *file_kind_of(mode_t m) {
  if (S_ISREG(m)) return "file";
  if (S_ISDIR(m)) return "directory";
  if (S_ISLNK(m)) return "symbolic link";
  if (S_ISFIFO(m)) return "FIFO";
  if (S_ISSOCK(m)) return "socket";
  if (S_ISCHR(m)) return "character device";
  if (S_ISBLK(m)) return "block device";
  return "special file";
}

/* The directory part of path ("." when it has none). */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

int outfile_open(outfile_t *f, const char *name, char *err, size_t errlen) {
  memset(f, 0, sizeof *f);
  f->fd = -1;
  if (!*name) {
    snprintf(err, errlen, "an empty path is not a file name");
    return -1;
  }
  f->name = strdup(name);
  char *dir = dir_of(name);
  if (!f->name || !dir) {
    free(dir);
    free(f->name);
    f->name = NULL;
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  const char *no_tmpfile = getenv("MEMDBG_NO_O_TMPFILE");
  if (!(no_tmpfile && *no_tmpfile && strcmp(no_tmpfile, "0") != 0)) {
    f->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (f->fd >= 0) {
      f->marked = mark_fd(f->fd);
      free(dir);
      return 0;
    }
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
      snprintf(err, errlen, "cannot create a file in %s: %s", dir, strerror(errno));
      free(dir);
      free(f->name);
      f->name = NULL;
      return -1;
    }
  }
  free(dir);
  /* named fallback: NAME, else NAME-XXXXXX, each created exclusively */
  size_t n = strlen(name) + 8;
  f->named = malloc(n);
  for (int i = 0; f->named && i < 100; i++) {
    if (i == 0)
      snprintf(f->named, n, "%s", name);
    else {
      char sfx[7];
      random_suffix(sfx, 6);
      snprintf(f->named, n, "%s-%s", name, sfx);
    }
    f->fd = open(f->named, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (f->fd >= 0) {
      f->marked = mark_fd(f->fd);
      return 0;
    }
    if (errno != EEXIST) break;
  }
  snprintf(err, errlen, "cannot create %s: %s", f->named ? f->named : name,
           f->named ? strerror(errno) : "out of memory");
  free(f->named);
  free(f->name);
  f->named = f->name = NULL;
  return -1;
}

int outfile_write(outfile_t *f, const char *p, size_t n, char *err, size_t errlen) {
  while (n > 0) {
    ssize_t w = write(f->fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      snprintf(err, errlen, "writing %s failed: %s", f->name, strerror(errno));
      return -1;
    }
    p += w, n -= (size_t)w;
    f->bytes += w;
  }
  return 0;
}

/* Links the open file at `to`, exclusively (EEXIST when `to` exists). */
static int link_at(outfile_t *f, const char *to) {
  if (f->named) return link(f->named, to);
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", f->fd);
  if (linkat(AT_FDCWD, proc, AT_FDCWD, to, AT_SYMLINK_FOLLOW) == 0) return 0;
  if (errno != ENOENT) return -1;
  return linkat(f->fd, "", AT_FDCWD, to, AT_EMPTY_PATH); /* no /proc */
}

/* Why dest, an existing file (now at `at`, with *st), may not be replaced
 * (-1 with E_EXIST, E_PATH), or 0 when it may: a regular file memdbg marked, or any regular file
 * with CLOBBER_FORCE; nothing with CLOBBER_NEVER. */
static int refuse_existing(const char *dest, const char *at, const struct stat *st, int clobber,
                           char *err, size_t errlen, const char **code) {
  if (!S_ISREG(st->st_mode)) {
    snprintf(err, errlen, "%s is a %s, not a regular file: memdbg replaces only regular files",
             dest, file_kind_of(st->st_mode));
    *code = E_PATH;
    return -1;
  }
  if (clobber == CLOBBER_FORCE) return 0;
  *code = E_EXIST;
  if (clobber == CLOBBER_NEVER) {
    snprintf(err, errlen, "%s exists (and --no-clobber/noClobber refuses to replace it)", dest);
    return -1;
  }
  int m = file_marked(at);
  if (m == 1) return 0;
  if (m < 0)
    snprintf(
        err, errlen,
        "%s exists and memdbg cannot tell whether it created it (this filesystem has no user "
        "extended attributes to mark its files); choose another name, remove it, or pass --force",
        dest);
  else
    snprintf(
        err, errlen,
        "%s exists and memdbg did not create it; choose another name, remove it, or pass --force",
        dest);
  return -1;
}

/* Puts `from` (ours) at dest, which existed when we looked: exchanged
 * atomically, and swapped back when what it displaced may not be replaced. */
static int replace_at(const char *from, const char *dest, int clobber, char *err, size_t errlen,
                      const char **code) {
  struct stat st;
  if (renameat2(AT_FDCWD, from, AT_FDCWD, dest, RENAME_EXCHANGE) == 0) {
    /* `from` now names what was at dest: judge that very file */
    if (lstat(from, &st) == 0 &&
        refuse_existing(dest, from, &st, clobber, err, errlen, code) != 0) {
      if (renameat2(AT_FDCWD, from, AT_FDCWD, dest, RENAME_EXCHANGE) != 0) {
        *code = E_IO;
        snprintf(err, errlen, "%s changed while memdbg replaced it; what was there is now %s: %s",
                 dest, from, strerror(errno));
      }
      return -1;
    }
    unlink(from); /* the displaced file: memdbg's own, or --force */
    return 0;
  }
  if (errno == ENOENT && access(from, F_OK) == 0) {
    /* dest went away meanwhile: link exclusively */
    if (link(from, dest) == 0) return unlink(from), 0;
    if (errno == EEXIST) {
      *code = E_EXIST;
      snprintf(err, errlen, "%s appeared while memdbg was writing it; choose another name", dest);
      return -1;
    }
  } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP || errno == EOPNOTSUPP) {
    /* no RENAME_EXCHANGE on this filesystem: re-check right before rename(2) */
    if (lstat(dest, &st) == 0 && refuse_existing(dest, dest, &st, clobber, err, errlen, code) != 0)
      return -1;
    if (rename(from, dest) == 0) return 0;
  }
  *code = E_IO;
  snprintf(err, errlen, "replacing %s failed: %s", dest, strerror(errno));
  return -1;
}

int outfile_publish(outfile_t *f, const char *dest, int clobber, char *err, size_t errlen,
                    const char **code) {
  *code = E_IO;
  if (f->published) {
    snprintf(err, errlen, "%s is already in place", f->name);
    return -1;
  }
  if (fsync(f->fd) != 0) {
    snprintf(err, errlen, "flushing %s failed: %s", f->name, strerror(errno));
    return -1;
  }
  struct stat st, own;
  int exists = lstat(dest, &st) == 0;
  if (exists && f->named && fstat(f->fd, &own) == 0 && own.st_ino == st.st_ino &&
      own.st_dev == st.st_dev)
    goto done; /* the named file already is dest */
  if (exists && refuse_existing(dest, dest, &st, clobber, err, errlen, code) != 0) return -1;
  if (!exists) {
    if (link_at(f, dest) == 0) {
      if (f->named) unlink(f->named);
      goto done;
    }
    int e = errno;
    if (e != EEXIST) {
      snprintf(err, errlen, "cannot create %s: %s", dest, strerror(e));
      return -1;
    }
    /* it appeared meanwhile: judge what is there now */
    if (lstat(dest, &st) != 0) {
      snprintf(err, errlen, "cannot create %s: %s", dest, strerror(errno));
      return -1;
    }
    if (refuse_existing(dest, dest, &st, clobber, err, errlen, code) != 0) return -1;
  }
  const char *from = f->named;
  char *tmp = NULL;
  if (!from) {
    /* an exclusive name of our own next to dest, then exchanged with it */
    size_t n = strlen(dest) + 24;
    tmp = malloc(n);
    int rc = -1;
    for (int i = 0; tmp && i < 100; i++) {
      char sfx[9];
      random_suffix(sfx, 8);
      snprintf(tmp, n, "%s.memdbg-%s", dest, sfx);
      if ((rc = link_at(f, tmp)) == 0 || errno != EEXIST) break;
    }
    if (rc != 0) {
      snprintf(err, errlen, "cannot create a file next to %s: %s", dest,
               tmp ? strerror(errno) : "out of memory");
      free(tmp);
      return -1;
    }
    from = tmp;
  }
  if (replace_at(from, dest, clobber, err, errlen, code) != 0) {
    /* remove (now or on close) only what still is our file */
    struct stat ts, fs;
    int ours = lstat(from, &ts) == 0 && fstat(f->fd, &fs) == 0 && fs.st_ino == ts.st_ino &&
               fs.st_dev == ts.st_dev;
    if (tmp && ours) unlink(tmp);
    if (f->named && !ours) {
      free(f->named);
      f->named = NULL;
    }
    free(tmp);
    return -1;
  }
  free(tmp);
done:
  free(f->named);
  f->named = NULL;
  f->published = 1;
  return 0;
}

int outfile_keep(outfile_t *f, char *kept, size_t keptlen) {
  if (f->published || f->fd < 0) return -1;
  if (f->named) {
    snprintf(kept, keptlen, "%s", f->named);
    free(f->named);
    f->named = NULL;
    f->published = 1;
    return 0;
  }
  size_t n = strlen(f->name) + 8;
  char *to = malloc(n);
  int rc = -1;
  for (int i = 0; to && i < 100; i++) {
    if (i == 0)
      snprintf(to, n, "%s", f->name);
    else {
      char sfx[7];
      random_suffix(sfx, 6);
      snprintf(to, n, "%s-%s", f->name, sfx);
    }
    if ((rc = link_at(f, to)) == 0 || errno != EEXIST) break;
  }
  if (rc == 0) {
    snprintf(kept, keptlen, "%s", to);
    f->published = 1;
  }
  free(to);
  return rc;
}

int outfile_close(outfile_t *f) {
  int rc = 0;
  if (f->fd >= 0) rc = close(f->fd);
  f->fd = -1;
  if (f->named) unlink(f->named); /* ours: created exclusively in this run */
  free(f->named);
  free(f->name);
  f->named = f->name = NULL;
  return rc;
}

/* ------------------------------------------------------------------ Lua */

/* core.fileKind(path) -> "file" | "directory" | "symbolic link" | "FIFO" |
 * "socket" | "character device" | "block device" | false (absent)
 * | nil, message, code. Links are not followed; "DIR/." follows one. */
static int l_file_kind(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (lstat(path, &st) != 0) {
    if (errno == ENOENT) {
      lua_pushboolean(L, 0);
      return 1;
    }
    char err[600];
    snprintf(err, sizeof err, "%s: %s", path, strerror(errno));
    return core_push_error(L, err, errno == ENOTDIR ? E_PATH : E_IO);
  }
  lua_pushstring(L, file_kind_of(st.st_mode));
  return 1;
}

/* core.fileMarked(path) -> marked, supported: does path (not followed)
 * carry memdbg's mark; supported is false when its filesystem has no user
 * xattrs (then nothing there is marked). */
static int l_file_marked(lua_State *L) {
  int m = file_marked(luaL_checkstring(L, 1));
  lua_pushboolean(L, m == 1);
  lua_pushboolean(L, m >= 0);
  return 2;
}

/* core.readFile(path[, maxBytes]) -> text | nil, message, code: a whole
 * regular file. Opened non-blocking and checked with fstat before reading,
 * so a FIFO, a socket or a device fails at once (EPATH) instead of blocking
 * in open(). */
static int l_read_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Number max = luaL_optnumber(L, 2, 1 << 30);
  char err[700];
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    snprintf(err, sizeof err, "cannot read %s: %s", path, strerror(errno));
    return core_push_error(L, err, errno == ENOENT || errno == ENOTDIR ? E_PATH : E_IO);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    snprintf(err, sizeof err, "cannot read %s: %s", path, strerror(errno));
    close(fd);
    return core_push_error(L, err, E_IO);
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, sizeof err, "%s is a %s, not a regular file", path, file_kind_of(st.st_mode));
    close(fd);
    return core_push_error(L, err, E_PATH);
  }
  if ((lua_Number)st.st_size > max) {
    snprintf(err, sizeof err, "%s is %lld bytes, more than the %.0f this reads", path,
             (long long)st.st_size, (double)max);
    close(fd);
    return core_push_error(L, err, E_PATH);
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (;;) {
    char p[8192];
    ssize_t n = read(fd, p, sizeof p);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      snprintf(err, sizeof err, "reading %s failed: %s", path, strerror(errno));
      close(fd);
      return core_push_error(L, err, E_IO);
    }
    if (n == 0) break;
    luaL_addlstring(&b, p, (size_t)n);
  }
  close(fd);
  luaL_pushresult(&b);
  return 1;
}

static outfile_t *check_outfile(lua_State *L) {
  outfile_t *f = luaL_checkudata(L, 1, OUTFILE_MT);
  if (f->fd < 0) luaL_error(L, "the file is closed");
  return f;
}

/* core.createFile(name) -> file | nil, message, code: a new, private file
 * that appears at a destination only on file:publish(dest, noClobber). */
static int l_create_file(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  outfile_t *f = lua_newuserdatauv(L, sizeof *f, 0);
  memset(f, 0, sizeof *f);
  f->fd = -1;
  luaL_setmetatable(L, OUTFILE_MT);
  char err[600];
  if (outfile_open(f, name, err, sizeof err) != 0) return core_push_error(L, err, E_IO);
  return 1;
}

static int l_file_write(lua_State *L) {
  outfile_t *f = check_outfile(L);
  size_t n;
  const char *p = luaL_checklstring(L, 2, &n);
  char err[600];
  if (outfile_write(f, p, n, err, sizeof err) != 0) return core_push_error(L, err, E_IO);
  lua_pushboolean(L, 1);
  return 1;
}

int clobber_of(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE) return lua_toboolean(L, idx) ? CLOBBER_NEVER : CLOBBER_OWN;
  lua_getfield(L, idx, "noClobber");
  lua_getfield(L, idx, "force");
  int mode = lua_toboolean(L, -2)   ? CLOBBER_NEVER
             : lua_toboolean(L, -1) ? CLOBBER_FORCE
                                    : CLOBBER_OWN;
  lua_pop(L, 2);
  return mode;
}

/* file:publish(dest[, {noClobber=, force=} | noClobber]) -> true | nil,
 * message, code; the file stays open for more writes until file:close(). */
static int l_file_publish(lua_State *L) {
  outfile_t *f = check_outfile(L);
  const char *dest = luaL_checkstring(L, 2);
  int clobber = clobber_of(L, 3);
  char err[1200];
  const char *code;
  if (outfile_publish(f, dest, clobber, err, sizeof err, &code) != 0)
    return core_push_error(L, err, code);
  lua_pushboolean(L, 1);
  return 1;
}

/* file:close() -> true | nil, message, code: an unpublished file is gone.
 * Safe to call twice; also __gc and __close. */
static int l_file_close(lua_State *L) {
  outfile_t *f = luaL_checkudata(L, 1, OUTFILE_MT);
  if (f->fd < 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  char name[600];
  snprintf(name, sizeof name, "%s", f->name ? f->name : "");
  if (outfile_close(f) != 0) {
    char err[700];
    snprintf(err, sizeof err, "closing %s failed: %s", name, strerror(errno));
    return core_push_error(L, err, E_IO);
  }
  lua_pushboolean(L, 1);
  return 1;
}

void files_register(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"write", l_file_write}, {"publish", l_file_publish}, {"close", l_file_close}, {NULL, NULL}};
  if (luaL_newmetatable(L, OUTFILE_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_file_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_file_close);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_file_kind);
  lua_setfield(L, -2, "fileKind");
  lua_pushcfunction(L, l_read_file);
  lua_setfield(L, -2, "readFile");
  lua_pushcfunction(L, l_file_marked);
  lua_setfield(L, -2, "fileMarked");
  lua_pushcfunction(L, l_create_file);
  lua_setfield(L, -2, "createFile");
}
