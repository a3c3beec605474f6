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

/* Sets r->cls from everything known about the record. */
void bounce_classify(const struct mb_rules *rules, const struct mb_bounce *b,
                     struct mb_bounce_record *r);

#endif
