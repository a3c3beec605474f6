/* Which recipient of a report --from-bounce takes, and what it takes from the report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mailbisect/err.h"
#include "mailbisect/frombounce.h"

/* A Postfix-style report for recipients given as "ADDRESS|STATUS|DIAGNOSTIC" groups, with the
 * refused message returned whole. */
static int report(char *out, size_t size, const char *const *groups, size_t n)
{
	size_t len = 0;
	int k = snprintf(out, size,
	                 "From: MAILER-DAEMON@mx.sender.example\n"
	                 "To: news@sender.example\n"
	                 "Subject: Undelivered Mail Returned to Sender\n"
	                 "MIME-Version: 1.0\n"
	                 "Content-Type: multipart/report; report-type=delivery-status;"
	                 " boundary=\"b\"\n\n"
	                 "--b\nContent-Type: text/plain\n\n"
	                 "This is the mail system at host mx.sender.example.\n\n"
	                 "--b\nContent-Type: message/delivery-status\n\n"
	                 "Reporting-MTA: dns; mx.sender.example\n");
	if (k < 0 || (size_t)k >= size)
		return -1;
	len = (size_t)k;
	for (size_t i = 0; i < n; i++) {
		char address[128], status[16];
		const char *diagnostic;
		if (sscanf(groups[i], "%127[^|]|%15[^|]|", address, status) != 2 ||
		    !(diagnostic = strrchr(groups[i], '|')))
			return -1;
		k = snprintf(out + len, size - len,
		             "\nFinal-Recipient: rfc822; %s\nAction: failed\nStatus: %s\n"
		             "Remote-MTA: dns; mx.receiver.example\n"
		             "Diagnostic-Code: smtp; %s\n",
		             address, status, diagnostic + 1);
		if (k < 0 || (size_t)k >= size - len)
			return -1;
		len += (size_t)k;
	}
	k = snprintf(out + len, size - len,
	             "\n--b\nContent-Type: message/rfc822\n\n"
	             "From: news@sender.example\nTo: list@receiver.example\n"
	             "Subject: Our news\nMessage-ID: <n1@sender.example>\n\nHello.\n\n--b--\n");
	return k < 0 || (size_t)k >= size - len ? -1 : (int)(len + (size_t)k);
}

static void test_pick(void **state)
{
	static const char *const unknown =
	    "Ann@Receiver.example|5.1.1|550 5.1.1 <ann@receiver.example>: Recipient address "
	    "rejected: User unknown in local recipient table";
	static const char *const blocked =
	    "bob@receiver.example|5.7.1|554 5.7.1 Service unavailable; Client host [192.0.2.9] "
	    "blocked using zen.spamhaus.org";
	static const char *const full =
	    "cy@receiver.example|5.2.2|552 5.2.2 <cy@receiver.example>: mailbox full";
	static const struct {
		const char *groups[3];
		size_t n;
		const char *want;
	} cases[] = {
	    /* the block, not the unknown user listed before it */
	    {{unknown, blocked}, 2, "bob@receiver.example"},
	    {{full, unknown, blocked}, 3, "bob@receiver.example"},
	    {{blocked, unknown}, 2, "bob@receiver.example"},
	    /* only recipients' own failures: the first of them, lower case */
	    {{unknown, full}, 2, "ann@receiver.example"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char ndr[4096];
		struct mb_from_bounce fb;
		struct mb_err err = MB_ERR_INIT;
		int len = report(ndr, sizeof ndr, cases[i].groups, cases[i].n);
		assert_true(len > 0);
		if (mb_from_bounce_read("ndr.eml", ndr, (size_t)len, &fb, &err))
			fail_msg("case %zu: %s", i, err.message);
		if (strcmp(fb.recipient, cases[i].want) != 0)
			fail_msg("case %zu: took %s, want %s", i, fb.recipient, cases[i].want);
		assert_string_equal(fb.domain, "receiver.example");
		assert_true(fb.message.len > 0); /* the returned message */
		assert_non_null(strstr(fb.message.data, "Message-ID: <n1@sender.example>"));
		if (strcmp(cases[i].want, "bob@receiver.example") == 0) {
			assert_string_equal(fb.status, "5.7.1");
			assert_int_equal(fb.cls.fault, MB_FAULT_IP);
		}
		mb_from_bounce_clear(&fb);
	}
}

static void test_no_failed_recipient(void **state)
{
	static const char note[] = "From: someone@example.org\nTo: news@sender.example\n"
	                           "Subject: hello\n\nJust a note, nothing failed.\n";
	struct mb_from_bounce fb;
	struct mb_err err = MB_ERR_INIT;
	(void)state;

	assert_int_equal(mb_from_bounce_read("note.eml", note, sizeof note - 1, &fb, &err),
	                 MB_EDATA);
	assert_non_null(strstr(err.message, "note.eml: no failed recipient found"));

	/* a recipient whose domain is no host name is no affected domain */
	{
		static const char *const odd[] = {"alice@../../etc|5.1.1|550 5.1.1 user unknown"};
		char ndr[4096];
		int len = report(ndr, sizeof ndr, odd, 1);
		assert_true(len > 0);
		assert_int_equal(mb_from_bounce_read("odd.eml", ndr, (size_t)len, &fb, &err),
		                 MB_EDATA);
		assert_non_null(strstr(err.message, "odd.eml: no failed recipient found"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pick),
	    cmocka_unit_test(test_no_failed_recipient),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
