/* Collecting outcomes: reads new messages from the bounce mailbox, parses each as a DSN,
 * matches it to a journaled send (ENVID, Message-ID, VERP) and records the receiver's
 * decision with its classified reason. Raw DSNs are kept as evidence. */
#ifndef MAILBISECT_COLLECT_H
#define MAILBISECT_COLLECT_H

#include <stdint.h>

#include "mailbisect/err.h"
#include "mailbisect/imap.h"
#include "mailbisect/store.h"

struct mb_collect_stats {
	int fetched;  /* messages read from the mailbox */
	int matched;  /* of those, DSNs that matched a send */
	int resolved; /* sends whose state changed */
};

/* One pass over the mailbox. url/user identify the stored cursor. Sends of every run whose
 * outcome may still change are candidates, so concurrent runs sharing a mailbox lose
 * nothing. */
int mb_collect_pass(struct mb_store *store, struct mb_imap *imap, const char *url, const char *user,
                    struct mb_collect_stats *stats, struct mb_err *err);

/* Window end: sends of run_id still pending after the relay accepted them become
 * "accepted" (source window). Returns the number changed in *changed. */
int mb_collect_close_window(struct mb_store *store, int64_t run_id, int *changed,
                            struct mb_err *err);

#endif
