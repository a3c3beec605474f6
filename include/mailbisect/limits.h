/* Named limits for every parser and buffer: untrusted input is read within these bounds. */
#ifndef MAILBISECT_LIMITS_H
#define MAILBISECT_LIMITS_H

#define MB_MAX_MESSAGE_BYTES    (50u * 1024u * 1024u) /* a failing message or a bounce */
#define MB_MAX_SPEC_BYTES       (1024u * 1024u)       /* an experiment spec */
#define MB_MAX_SECRET_BYTES     4096u                 /* a password file */
#define MB_MAX_LINE_BYTES       (64u * 1024u)         /* one header or DSN field line */
#define MB_MAX_HEADERS          2000                  /* header fields per message */
#define MB_MAX_MIME_DEPTH       32                    /* nesting of multiparts/messages */
#define MB_MAX_MIME_PARTS       1000                  /* parts per message */
#define MB_MAX_DSN_RECIPIENTS   500                   /* per-recipient groups in one DSN */
#define MB_MAX_RECIPIENTS       100                   /* recipients in one experiment */
#define MB_MAX_SENDS            1000                  /* sends in one run (hard cap) */
#define MB_MAX_DIAGNOSTIC_BYTES (16u * 1024u)         /* one receiver text */
#define MB_MAX_IMAP_FETCH       5000                  /* messages fetched per collect pass */
#define MB_MAX_HTML_BYTES       (20u * 1024u * 1024u) /* one HTML part */

#endif
