/* Shared by the parts of the bounce reader (bounce.c, bounce_text.c, bounce_reason.c): not a
 * public interface. */
#ifndef MAILBISECT_BOUNCE_INTERNAL_H
#define MAILBISECT_BOUNCE_INTERNAL_H

#include <stddef.h>

#include "mailbisect/bounce.h"

/* A new zeroed record at the end of b's list; NULL when out of memory or at the limit. */
struct mb_bounce_record *bounce_record_add(struct mb_bounce *b);

/* Reads what the delivery-status report did not say from the message itself: feedback
 * reports, auto-replies, the notification text of non-standard formats, and the text about
 * each recipient of a report whose fields are thin. Returns 0 or MB_ENOMEM. */
int bounce_read_text(const char *data, size_t len, struct mb_bounce *b);

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
                     struct mb_bounce_record *r);

#endif
