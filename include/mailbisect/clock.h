/* Time: wall-clock stamps with time zone for reports and the store, a monotonic clock for
 * windows and pacing. */
#ifndef MAILBISECT_CLOCK_H
#define MAILBISECT_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds of a monotonic clock (for deadlines and pacing, never stored). */
int64_t mb_clock_monotonic_ms(void);
/* Formats t as RFC 3339 in local time with its offset, e.g. 2026-12-03T20:01:02+01:00. */
void mb_clock_rfc3339(time_t t, char *out, size_t size);
/* Formats t as an RFC 5322 Date header value. */
void mb_clock_rfc5322(time_t t, char *out, size_t size);
/* Sleeps ms milliseconds (restarts after signals unless *stop becomes nonzero). */
void mb_clock_sleep_ms(int64_t ms, volatile int *stop);

#endif
