/* libFuzzer target for whole-bounce reading (mb_bounce_read with the built-in rules): any
 * bytes must give records or an error, and every record must hold what bounce.h promises
 * (a reason, an enhanced status or none, a reply code 200..599 or 0, a bounded text). */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailbisect/bounce.h"
#include "mailbisect/limits.h"
#include "fuzz_targets.h"

static void fail(const char *what, const char *value)
{
	fprintf(stderr, "record: %s%s%s\n", what, value ? ": " : "", value ? value : "");
	abort();
}

/* "5.7.1": class 2, 4 or 5, then two dot-separated numbers of 1 to 3 digits (RFC 3463). */
static bool is_enhanced_status(const char *s)
{
	size_t i = 1;
	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return false;
	for (int part = 0; part < 2; part++) {
		size_t digits = 0;
		if (s[i++] != '.')
			return false;
		while (isdigit((unsigned char)s[i]) && digits < 3)
			i++, digits++;
		if (digits == 0)
			return false;
	}
	return s[i] == '\0';
}

static void check_record(const struct mb_bounce_record *r)
{
	if (!r->cls.reason)
		fail("no reason", NULL);
	if (r->status && !is_enhanced_status(r->status))
		fail("status is not an enhanced status code", r->status);
	if (r->reply_code != 0 && (r->reply_code < 200 || r->reply_code > 599))
		fail("reply code out of range", NULL);
	if (r->diagnostic && strlen(r->diagnostic) > MB_MAX_DIAGNOSTIC_BYTES)
		fail("diagnostic longer than MB_MAX_DIAGNOSTIC_BYTES", NULL);
	/* Touch every string so the sanitizers see a dangling or unterminated one. */
	const char *fields[] = {r->recipient,       r->action,     r->status,       r->diagnostic,
	                        r->diagnostic_type, r->remote_mta, r->feedback_type};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (fields[i])
			(void)strlen(fields[i]);
}

int mb_fuzz_bounce(const uint8_t *data, size_t size)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_bounce *b = NULL;

	if (mb_bounce_read(NULL, (const char *)data, size, &b, &err))
		return 0;
	if ((unsigned)b->kind >= MB_BOUNCE_KIND_COUNT ||
	    (b->kind == MB_BOUNCE_NONE && b->n_records > 0)) {
		fprintf(stderr, "kind %s with %zu records\n", mb_bounce_kind_name(b->kind),
		        b->n_records);
		abort();
	}
	for (size_t i = 0; i < b->n_records; i++)
		check_record(&b->records[i]);
	mb_bounce_free(b);
	return 0;
}

#ifndef MB_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return mb_fuzz_bounce(data, size);
}
#endif
