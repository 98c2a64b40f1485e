/* A plain TCP connect before libwebsockets takes over: libwebsockets reports
 * a failed connect as a bare string, but the user needs to know whether the
 * port is closed (runtime not started with --inspect) or the host is
 * unreachable, so the errno is read here. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include "core/core.h"

int net_probe(const char *host, int port, double timeout, char *err, size_t errlen,
              const char **code) {
  struct addrinfo hints, *res = NULL, *ai;
  char portstr[16];
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(portstr, sizeof portstr, "%d", port);
  int g = getaddrinfo(host, portstr, &hints, &res);
  if (g != 0) {
    snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(g));
    *code = E_NOTFOUND;
    return -1;
  }
  int last = ECONNREFUSED;
  double deadline = core_now() + timeout;
  for (ai = res; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = errno;
      continue;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      struct pollfd pfd = {fd, POLLOUT, 0};
      double left = deadline - core_now();
      int pr = poll(&pfd, 1, left > 0 ? (int)(left * 1000) + 1 : 0);
      if (pr == 0) {
        last = ETIMEDOUT;
      } else {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        r = soerr ? -1 : 0;
        last = soerr;
      }
    } else if (r != 0) {
      last = errno;
    }
    close(fd);
    if (r == 0) {
      freeaddrinfo(res);
      return 0;
    }
  }
  freeaddrinfo(res);
  *code = last == ETIMEDOUT ? E_TIMEDOUT : last == ECONNREFUSED ? E_CONNREFUSED : "EHOSTUNREACH";
  snprintf(err, errlen, "%s", strerror(last));
  return -1;
}
