/* The messages of a mail file or folder, one at a time: a single message file, an mbox, a
 * Maildir (cur/ and new/), a plain directory of message files, or standard input ("-").
 * An mbox is split as it is read, with a bounded buffer, so a large one is never held whole.
 *
 * An mbox is a file whose first line starts with "From " (not a "From:" header field). A later
 * line starting with "From " begins the next message when the line before it is empty or the
 * line carries a time of day ("From MAILER-DAEMON Fri Dec  4 07:04:23 2026"), so that an
 * unescaped "From here on ..." in a body does not split a message. The From_ line is removed,
 * ">From " lines lose one ">" (mboxrd; mboxo's ">From " comes out as "From " too), the empty
 * line that separates two messages is dropped, and every other byte is kept: LF, CRLF and
 * CR-only line ends alike. Message bytes are untrusted. */
#ifndef MAILBISECT_MAILFILE_H
#define MAILBISECT_MAILFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "mailbisect/err.h"

struct mb_mailfile;

struct mb_mailfile_opts {
	size_t max_message_bytes; /* larger messages are skipped; 0: MB_MAX_MESSAGE_BYTES */
};

#define MB_MAILFILE_OPTS_INIT                                                                      \
	{                                                                                          \
		0                                                                                  \
	}

/* One message. Every pointer is borrowed from the iterator until the next call. */
struct mb_mailfile_message {
	const char *file; /* the file it came from: a folder's message file, the mbox, or "-" */
	size_t number;    /* 1-based number of the message in file (1 for a single message) */
	bool in_mbox;     /* file is an mbox */
	const char *data; /* the message (NUL-terminated, the NUL not counted in len) */
	size_t len;
};

/* Opens path: "-" is standard input; a directory with cur/ or new/ is a Maildir (the files
 * of cur/ then new/, each sorted by name; tmp/ and names starting with "." are skipped); any
 * other directory gives its regular files sorted by name (no subdirectories). Each file is a
 * single message or an mbox, whichever it looks like. opts may be NULL. A path that is
 * missing or cannot be opened gives MB_ENOINPUT naming it; caller closes *out. */
int mb_mailfile_open(struct mb_mailfile **out, const char *path,
                     const struct mb_mailfile_opts *opts, struct mb_err *err);

/* The next message: returns 1 and fills *msg, 0 when there are no more, or a negative MB_E
 * code when one file or message could not be read: MB_ENOINPUT (a folder's file cannot be
 * opened, a read error), MB_EDATA (an empty file, a message over the size limit: skipped),
 * MB_ENOMEM. err then names the file ("box.mbox#3: ...") and msg->file and msg->number say
 * which; the next call goes on with the rest. */
int mb_mailfile_next(struct mb_mailfile *mf, struct mb_mailfile_message *msg, struct mb_err *err);

/* Accepts NULL. Never closes standard input. */
void mb_mailfile_close(struct mb_mailfile *mf);

#endif
