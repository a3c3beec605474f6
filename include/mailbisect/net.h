/* Network helpers that know nothing of mail: a TCP connect with a timeout, and a reachability
 * probe built on it, used before an experiment sends anything so that a dead relay stops the run
 * at once. */
#ifndef MAILBISECT_NET_H
#define MAILBISECT_NET_H

#include "mailbisect/err.h"

/* Connects to host:port (numeric or name), trying each address in turn, each within timeout_ms.
 * On success *fd is the connected socket, non-blocking (O_NONBLOCK) and close-on-exec; the
 * caller closes it. On failure *fd is -1 and MB_EUNAVAIL comes with "cannot resolve host: reason"
 * or "cannot connect to host:port: reason" ("Connection timed out" after the timeout). */
int mb_net_connect(const char *host, long port, long timeout_ms, int *fd, struct mb_err *err);

/* Connects to host:port (numeric or name) within timeout_ms and closes again.
 * MB_EUNAVAIL with "cannot connect to host:port: reason" on failure. */
int mb_net_probe(const char *host, long port, long timeout_ms, struct mb_err *err);

#endif
