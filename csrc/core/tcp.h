/* A non-blocking TCP connect to a numeric address, with the errno kept so a
 * refused port, an unreachable host and a timeout are named precisely. */
#ifndef MEMDBG_CORE_TCP_H
#define MEMDBG_CORE_TCP_H

#include <stddef.h>

/* Starts connecting to addr (an IPv4 or IPv6 literal) and port. Returns the
 * socket (non-blocking, close-on-exec), or -1 with the errno in *err
 * (EINVAL for an address that is not a literal). */
int tcp_start(const char *addr, int port, int *err);
/* After the socket is writable: 0 when connected, else the errno. */
int tcp_result(int fd);
/* Resolves a host name to its first address literal (blocking: only for the
 * short --traffic requests). 0 on success, else a getaddrinfo error. */
int tcp_resolve_first(const char *host, char *out, size_t outlen);
/* 4 or 6 for an IPv4/IPv6 literal, 0 otherwise. */
int tcp_family(const char *addr);
/* Whether a literal is a loopback address (127/8, ::1, ::ffff:127/104). */
int tcp_is_loopback(const char *addr);

#endif
