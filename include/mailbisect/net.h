/* Network helpers that know nothing of mail: a bounded TCP reachability probe, used before
 * an experiment sends anything so that a dead relay stops the run at once. */
#ifndef MAILBISECT_NET_H
#define MAILBISECT_NET_H

#include "mailbisect/err.h"

/* Connects to host:port (numeric or name) within timeout_ms and closes again.
 * MB_EUNAVAIL with "cannot connect to host:port: reason" on failure. */
int mb_net_probe(const char *host, long port, long timeout_ms, struct mb_err *err);

#endif
