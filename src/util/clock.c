/* Wall-clock formatting and a monotonic clock. */
#include "mailbisect/clock.h"

#include <errno.h>
#include <stdio.h>

int64_t mb_clock_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mb_clock_rfc3339(time_t t, char *out, size_t size)
{
	struct tm tm;
	char zone[8];
	localtime_r(&t, &tm);
	strftime(zone, sizeof zone, "%z", &tm);
	/* %z gives +hhmm; RFC 3339 wants +hh:mm */
	snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d%.3s:%.2s", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, zone, zone + 3);
}

void mb_clock_rfc5322(time_t t, char *out, size_t size)
{
	static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	char zone[8];
	localtime_r(&t, &tm);
	strftime(zone, sizeof zone, "%z", &tm);
	snprintf(out, size, "%s, %d %s %04d %02d:%02d:%02d %s", days[tm.tm_wday % 7], tm.tm_mday,
	         months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, zone);
}

void mb_clock_sleep_ms(int64_t ms, volatile int *stop)
{
	struct timespec req, rem;
	if (ms <= 0)
		return;
	req.tv_sec = (time_t)(ms / 1000);
	req.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&req, &rem) != 0 && errno == EINTR) {
		if (stop && *stop)
			return;
		req = rem;
	}
}
