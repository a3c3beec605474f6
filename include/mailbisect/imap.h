/* Reading a bounce mailbox over IMAP (libcurl): fetch messages newer than a remembered UID.
 * Message bytes are untrusted. The password is borrowed and never logged. */
#ifndef MAILBISECT_IMAP_H
#define MAILBISECT_IMAP_H

#include <stddef.h>
#include <stdint.h>

#include "mailbisect/err.h"

struct mb_imap;

/* url: imap://host:port/MAILBOX or imaps://...; nothing is contacted until the first fetch. */
int mb_imap_open(struct mb_imap **out, const char *url, const char *user, const char *password,
                 long timeout_seconds, struct mb_err *err);
void mb_imap_close(struct mb_imap *imap);

/* Called for each fetched message; a nonzero return stops the fetch and is returned. */
typedef int (*mb_imap_message_cb)(void *ctx, uint32_t uid, const char *data, size_t len);

/* Fetches every message with UID > *last_uid, in UID order, and advances *last_uid.
 * *uidvalidity: 0 on first call (set from the server); when the server's differs, *last_uid
 * restarts at 0. Errors: MB_EUNAVAIL (cannot connect), MB_ECONFIG (login refused),
 * MB_EPROTO (unexpected reply). */
int mb_imap_fetch_new(struct mb_imap *imap, uint32_t *uidvalidity, uint32_t *last_uid,
                      mb_imap_message_cb cb, void *ctx, struct mb_err *err);

#endif
