/* Shared by the parts of the bounce reader (bounce.c, bounce_text.c, bounce_reason.c): not a
 * public interface. */
#ifndef MAILBISECT_BOUNCE_INTERNAL_H
#define MAILBISECT_BOUNCE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <gmime/gmime.h>

#include "mailbisect/bounce.h"
#include "mailbisect/dsn.h"

#define BOUNCE_HOST_MAX  255 /* longest host name kept */
#define BOUNCE_HOSTS_MAX 8   /* host names kept from the bounce's Received fields */

/* The hosts a bounce names besides each recipient's Remote-MTA: who reported it (the
 * Reporting-MTA field) and who handed it on (the Received fields of the bounce itself, top
 * first), plus format details the records do not carry. Read by the per-host and per-format
 * decisions of bounce_hosts.c. */
struct bounce_context {
	char reporting[BOUNCE_HOST_MAX + 1];
	char received[BOUNCE_HOSTS_MAX][BOUNCE_HOST_MAX + 1];
	size_t n_received;
};

/* A new zeroed record at the end of b's list; NULL when out of memory, or at the limit of
 * MB_MAX_DSN_RECIPIENTS records, which sets b->truncated. */
struct mb_bounce_record *bounce_record_add(struct mb_bounce *b);

/* mb_dsn_parse (dsn.c) that also hands over the message GMime built from data, so that the
 * text reader does not parse it again: on success *message is the caller's to unref, and
 * *bytes (the array through which GMime reads data in place, borrowing it) the caller's to
 * release with dsn_bytes_release after that, while data is still there. */
int dsn_parse_message(const char *data, size_t len, struct mb_dsn **out, GMimeMessage **message,
                      GByteArray **bytes, struct mb_err *err);
void dsn_bytes_release(GByteArray *bytes);

/* Appends the decoded content of a leaf part (its transfer encoding removed), at most max
 * bytes, to out, as g_mime_data_wrapper_write_to_stream gives it; content that needs no
 * decoding is read from the part's stream without GMime's copy. Returns 0 (nothing appended
 * when the part has no content or cannot be read) or MB_ENOMEM. */
int bounce_part_bytes(GMimePart *part, size_t max, struct mb_buf *out);

/* Reads what the delivery-status report did not say from the message itself (m, parsed from
 * data; borrowed): feedback reports, auto-replies, the notification text of non-standard
 * formats, and the text about each recipient of a report whose fields are thin. Returns 0 or
 * MB_ENOMEM. */
int bounce_read_text(GMimeMessage *m, const char *data, size_t len, struct mb_bounce *b,
                     struct bounce_context *ctx);

/* Reads an Amazon SES event notification (JSON, maybe inside an SNS envelope) into b when the
 * text is one; leaves b alone otherwise. Returns 0 or MB_ENOMEM. */
int bounce_read_json(const char *text, size_t len, struct mb_bounce *b);

/* The enhanced status code a text quotes (the first that is not X.0.0 or 4.4.7, else that
 * one), allocated; NULL when there is none. */
char *bounce_status_in_text(const char *text);

/* Settles r->status between the report's Status field and the code the reply quotes. Returns
 * 0 (a code that cannot be copied is left as it was). */
int bounce_status_settle(struct mb_bounce_record *r);

/* Sets r->cls from everything known about the record. */
void bounce_classify(const struct mb_rules *rules, const struct mb_bounce *b,
                     const struct bounce_context *ctx, struct mb_bounce_record *r);

/* The decisions a format, a local delivery agent or a remote host documents for its own
 * wording (bounce_hosts.c): true and c set when one applies. */
bool bounce_decide_by_format(const struct mb_bounce *b, const struct mb_bounce_record *r,
                             struct mb_classification *c);
bool bounce_decide_by_agent(const struct mb_bounce_record *r, struct mb_classification *c);
bool bounce_decide_by_host(const struct bounce_context *ctx, const struct mb_bounce_record *r,
                           struct mb_classification *c);

/* Keeps the host name that starts s (letters, digits, '.', '-'), lower case, in out. */
void bounce_host_copy(const char *s, char *out, size_t size);

#endif
