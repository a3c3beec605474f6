/* Manual driver of the SMTP transport: sends a small test message (or a file) through one
 * relay N times in one process and prints each result; for checks against the mail lab.
 *
 * Build (not part of the CMake targets; link against a build's core library):
 *   cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude \
 *      tests/tools/smtp_send.c build/libmbcore.a $(pkg-config --libs libesmtp-1.0) -lssl -lcrypto
 * Usage: smtp_send --host H --port P --from ADDR --to ADDR [--tls none|starttls] [--verify]
 *        [--ca FILE] [--user U --password-file FILE] [--helo NAME] [--timeout S] [--dsn]
 *        [--envid ID] [--header NAME:VALUE] [--count N] [--message FILE]
 * Exit status: 0 when every send ended pending (accepted by the relay), 1 otherwise. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailbisect/buf.h"
#include "mailbisect/clock.h"
#include "mailbisect/file.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"
#include "mailbisect/transport.h"

static void usage(void)
{
	fprintf(stderr, "usage: smtp_send --host H --port P --from ADDR --to ADDR [--tls "
	                "none|starttls] [--verify] [--ca FILE] [--user U --password-file FILE] "
	                "[--helo NAME] [--timeout S] [--dsn] [--envid ID] [--header N:V] "
	                "[--count N] [--message FILE]\n");
	exit(2);
}

static int test_message(struct mb_buf *out, const char *from, const char *to, long n)
{
	char date[64];
	mb_clock_rfc5322(time(NULL), date, sizeof date);
	return mb_buf_printf(
	    out,
	    "From: <%s>\r\nTo: <%s>\r\nSubject: mailbisect smtp transport check %ld\r\n"
	    "Date: %s\r\nMessage-ID: <smtp-check-%ld-%ld@sender.example>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
	    "Check %ld of the SMTP transport.\r\n",
	    from, to, n, date, (long)time(NULL), n, n);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"host", 1, 0, 'h'},
	                                     {"port", 1, 0, 'p'},
	                                     {"from", 1, 0, 'f'},
	                                     {"to", 1, 0, 't'},
	                                     {"tls", 1, 0, 'T'},
	                                     {"verify", 0, 0, 'v'},
	                                     {"ca", 1, 0, 'c'},
	                                     {"user", 1, 0, 'u'},
	                                     {"password-file", 1, 0, 'P'},
	                                     {"helo", 1, 0, 'H'},
	                                     {"timeout", 1, 0, 'o'},
	                                     {"dsn", 0, 0, 'd'},
	                                     {"envid", 1, 0, 'e'},
	                                     {"header", 1, 0, 'x'},
	                                     {"count", 1, 0, 'n'},
	                                     {"message", 1, 0, 'm'},
	                                     {0, 0, 0, 0}};
	struct mb_pool_spec pool = {0};
	struct mb_header_field header = {0};
	struct mb_envelope env = {0};
	const char *message_file = NULL, *password_file = NULL;
	char *password = NULL;
	long count = 1, failures = 0;
	int c;

	pool.name = "check";
	pool.transport = "smtp";
	pool.timeout_seconds = 30;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			pool.host = optarg;
			break;
		case 'p':
			if (mb_str_to_long(optarg, 1, 65535, &pool.port))
				usage();
			break;
		case 'f':
			env.mail_from = optarg;
			break;
		case 't':
			env.rcpt = optarg;
			break;
		case 'T':
			if (strcmp(optarg, "none") == 0)
				pool.tls = MB_TLS_NONE;
			else if (strcmp(optarg, "starttls") == 0)
				pool.tls = MB_TLS_STARTTLS;
			else if (strcmp(optarg, "implicit") == 0)
				pool.tls = MB_TLS_IMPLICIT;
			else
				usage();
			break;
		case 'v':
			pool.tls_verify = true;
			break;
		case 'c':
			pool.ca_file = optarg;
			break;
		case 'u':
			pool.auth_user = optarg;
			break;
		case 'P':
			password_file = optarg;
			break;
		case 'H':
			pool.helo = optarg;
			break;
		case 'o':
			if (mb_str_to_long(optarg, 1, 3600, &pool.timeout_seconds))
				usage();
			break;
		case 'd':
			env.request_dsn = true;
			break;
		case 'e':
			env.envid = optarg;
			break;
		case 'x': {
			char *colon = strchr(optarg, ':');
			if (!colon)
				usage();
			*colon = '\0';
			header.name = optarg;
			header.value = colon + 1;
			pool.headers = &header;
			pool.n_headers = 1;
			break;
		}
		case 'n':
			if (mb_str_to_long(optarg, 1, 10000, &count))
				usage();
			break;
		case 'm':
			message_file = optarg;
			break;
		default:
			usage();
		}
	}
	if (!pool.host || !pool.port || !env.mail_from || !env.rcpt)
		usage();
	if (password_file) {
		struct mb_err err = MB_ERR_INIT;
		if (mb_file_read_secret(password_file, &password, &err)) {
			fprintf(stderr, "smtp_send: %s\n", err.message);
			return 2;
		}
	}
	for (long i = 1; i <= count; i++) {
		struct mb_buf msg = MB_BUF_INIT;
		struct mb_send_result res = {0};
		struct mb_err err = MB_ERR_INIT;
		int64_t start;
		int rc;

		if (message_file ? mb_file_read(message_file, MB_MAX_MESSAGE_BYTES, &msg, &err)
		                 : test_message(&msg, env.mail_from, env.rcpt, i)) {
			fprintf(stderr, "smtp_send: %s\n", err.message);
			return 2;
		}
		start = mb_clock_monotonic_ms();
		rc = mb_transport_find("smtp")->send(&pool, password, &env, msg.data, msg.len, &res,
		                                     &err);
		if (rc) {
			printf("%ld: local failure %s: %s\n", i, mb_err_class(rc), err.message);
			failures++;
		} else {
			struct mb_buf text = MB_BUF_INIT;
			mb_str_printable(&text, res.text, strlen(res.text), false);
			printf("%ld: %s stage=%s code=%d enhanced=%s relay=%s queue_id=%s %lld ms\n"
			       "   text: %s\n",
			       i, mb_state_name(res.state), mb_stage_name(res.stage), res.code,
			       res.enhanced[0] ? res.enhanced : "-", res.relay,
			       res.queue_id ? res.queue_id : "-",
			       (long long)(mb_clock_monotonic_ms() - start), text.data);
			mb_buf_free(&text);
			if (res.state != MB_STATE_PENDING)
				failures++;
		}
		fflush(stdout);
		mb_send_result_clear(&res);
		mb_buf_free(&msg);
	}
	free(password);
	return failures ? 1 : 0;
}
