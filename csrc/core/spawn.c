/* core.spawn: a shell command run as a leak-hunt action (`--action-cmd`).
 * The child runs `sh -c CMD` in a process group of its own (so a timeout or
 * Ctrl-C in memdbg can end it and everything it started), with stdin from
 * /dev/null and its stdout on memdbg's stderr (memdbg's stdout may be JSON).
 * Its stderr goes through a pipe: forwarded to memdbg's stderr as it comes,
 * with the last bytes kept for the error message when it fails. Lua waits in
 * slices (proc:wait(s)) so signals and deadlines stay Lua's. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/spawn.h"
#include "core/util.h"

#define PROC_MT "memdbg.core.proc"
#define TAIL 4096

typedef struct {
  pid_t pid;   /* 0 once reaped */
  int errfd;   /* read end of the child's stderr, -1 at EOF */
  int status;  /* exit status once reaped */
  size_t tlen; /* bytes in tail (a ring once full) */
  size_t tpos;
  char tail[TAIL];
} proc_t;

static void keep_tail(proc_t *p, const char *buf, size_t n) {
  for (size_t i = 0; i < n; i++) {
    p->tail[p->tpos] = buf[i];
    p->tpos = (p->tpos + 1) % TAIL;
    if (p->tlen < TAIL) p->tlen++;
  }
}

/* Reads what the pipe has now; forwards it to stderr. */
static void drain(proc_t *p) {
  char buf[4096];
  while (p->errfd >= 0) {
    ssize_t n = read(p->errfd, buf, sizeof buf);
    if (n > 0) {
      keep_tail(p, buf, (size_t)n);
      ssize_t w = write(STDERR_FILENO, buf, (size_t)n);
      (void)w;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      close(p->errfd);
      p->errfd = -1;
    }
    return; /* EAGAIN or an error: nothing more now */
  }
}

static void reap(proc_t *p, int block) {
  if (p->pid <= 0) return;
  int st;
  pid_t r = waitpid(p->pid, &st, block ? 0 : WNOHANG);
  if (r == p->pid) {
    p->status = st;
    p->pid = 0;
  } else if (r < 0 && errno == ECHILD) {
    p->status = 0;
    p->pid = 0;
  }
}

/* core.spawn(cmd) -> proc | nil, msg, code */
static int l_spawn(lua_State *L) {
  const char *cmd = luaL_checkstring(L, 1);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return core_push_error(L, strerror(errno), "EIO");
  proc_t *p = lua_newuserdatauv(L, sizeof *p, 0);
  memset(p, 0, sizeof *p);
  p->errfd = -1;
  luaL_setmetatable(L, PROC_MT);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    return core_push_error(L, strerror(e), "EIO");
  }
  if (pid == 0) {
    setpgid(0, 0);
    /* libwebsockets ignores SIGPIPE process-wide; the command must not inherit that */
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int in = open("/dev/null", O_RDONLY);
    if (in >= 0) dup2(in, STDIN_FILENO);
    dup2(STDERR_FILENO, STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  setpgid(pid, pid); /* also from here: no race with a kill right after fork */
  close(fds[1]);
  fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
  p->pid = pid;
  p->errfd = fds[0];
  return 1;
}

static proc_t *check_proc(lua_State *L) {
  return luaL_checkudata(L, 1, PROC_MT);
}

/* proc:wait(seconds) -> exitCode, signal once it has exited; nothing while it
 * runs. Returns early when interrupted by a signal (Lua then sees Ctrl-C). */
static int l_proc_wait(lua_State *L) {
  proc_t *p = check_proc(L);
  double t = luaL_optnumber(L, 2, 0);
  double deadline = core_now() + (t > 0 ? t : 0);
  for (;;) {
    drain(p);
    reap(p, 0);
    if (p->pid == 0) {
      drain(p); /* what it wrote last; a grandchild holding the pipe is not waited for */
      if (WIFEXITED(p->status)) {
        lua_pushinteger(L, WEXITSTATUS(p->status));
        return 1;
      }
      lua_pushnil(L);
      lua_pushinteger(L, WIFSIGNALED(p->status) ? WTERMSIG(p->status) : 0);
      return 2;
    }
    double left = deadline - core_now();
    if (left <= 0) return 0;
    int ms = (int)(left * 1000) + 1;
    if (ms > 50) ms = 50; /* child exit is seen by polling waitpid */
    if (p->errfd >= 0) {
      struct pollfd pf = {p->errfd, POLLIN, 0};
      if (poll(&pf, 1, ms) < 0 && errno == EINTR) return 0;
    } else if (poll(NULL, 0, ms) < 0 && errno == EINTR) {
      return 0;
    }
  }
}

/* proc:kill(signal = 15): to the whole process group. */
static int l_kill(lua_State *L) {
  proc_t *p = check_proc(L);
  int sig = (int)luaL_optinteger(L, 2, SIGTERM);
  if (p->pid > 0) kill(-p->pid, sig);
  return 0;
}

/* proc:tail() -> the last bytes the command wrote on stderr */
static int l_tail(lua_State *L) {
  proc_t *p = check_proc(L);
  if (p->tlen < TAIL) {
    lua_pushlstring(L, p->tail, p->tlen);
  } else {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, p->tail + p->tpos, TAIL - p->tpos);
    luaL_addlstring(&b, p->tail, p->tpos);
    luaL_pushresult(&b);
  }
  return 1;
}

static int l_pid(lua_State *L) {
  proc_t *p = check_proc(L);
  if (p->pid <= 0) return 0;
  lua_pushinteger(L, p->pid);
  return 1;
}

/* __gc / __close / proc:close(): a command still running is killed with its
 * process group and reaped; safe to call twice. */
static int l_proc_close(lua_State *L) {
  proc_t *p = check_proc(L);
  if (p->pid > 0) {
    kill(-p->pid, SIGKILL);
    reap(p, 1);
  }
  if (p->errfd >= 0) {
    close(p->errfd);
    p->errfd = -1;
  }
  return 0;
}

void spawn_register(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"wait", l_proc_wait}, {"kill", l_kill},        {"tail", l_tail},
      {"pid", l_pid},        {"close", l_proc_close}, {NULL, NULL},
  };
  if (luaL_newmetatable(L, PROC_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_proc_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_proc_close);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_spawn);
  lua_setfield(L, -2, "spawn");
}
