/* Unit tests of the SMTP transport against a real SMTP peer: tests/tools/smtp_responder.py,
 * started on a free 127.0.0.1 port for each case and driven by a script of canned replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mailbisect/buf.h"
#include "mailbisect/file.h"
#include "mailbisect/transport.h"

#define RESPONDER MB_SOURCE_DIR "/tests/tools/smtp_responder.py"
#define PASSWORD  "s3cret-pw"
/* base64 of "\0sender\0s3cret-pw": the AUTH PLAIN initial response */
#define PLAIN_RESPONSE "AHNlbmRlcgBzM2NyZXQtcHc="

static const char message_8bit[] = "From: Sender <sender@example.com>\r\n"
                                   "To: <user@example.net>\r\n"
                                   "Subject: =?utf-8?q?caf=C3=A9?=\r\n"
                                   "MIME-Version: 1.0\r\n"
                                   "Content-Type: text/plain; charset=utf-8\r\n"
                                   "Content-Transfer-Encoding: 8bit\r\n"
                                   "\r\n"
                                   "Caf\xc3\xa9.\r\n";

static const char message[] = "From: Sender <sender@example.com>\r\n"
                              "To: <user@example.net>\r\n"
                              "Subject: mailbisect transport test\r\n"
                              "Date: Thu, 03 Dec 2026 20:00:00 +0000\r\n"
                              "Message-ID: <send-1@example.com>\r\n"
                              "MIME-Version: 1.0\r\n"
                              "Content-Type: text/plain; charset=us-ascii\r\n"
                              "\r\n"
                              "Hello.\r\n"
                              ".A line that starts with a dot.\r\n";

/* ---- the responder ---- */

struct responder {
	pid_t pid;
	int port;
	char dir[64];
	char path[3][128]; /* script, log, cert */
};

static int responder_start(struct responder *r, const char *script)
{
	char line[64] = {0};
	size_t got = 0;
	int out[2];
	FILE *f;

	memset(r, 0, sizeof *r);
	strcpy(r->dir, "/tmp/mb-smtp-test-XXXXXX");
	if (!mkdtemp(r->dir))
		return -1;
	snprintf(r->path[0], sizeof r->path[0], "%s/script", r->dir);
	snprintf(r->path[1], sizeof r->path[1], "%s/log", r->dir);
	snprintf(r->path[2], sizeof r->path[2], "%s/cert.pem", r->dir);
	if (!(f = fopen(r->path[0], "w")))
		return -1;
	fputs(script, f);
	fclose(f);
	if (pipe(out) != 0)
		return -1;
	r->pid = fork();
	if (r->pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		execlp("python3", "python3", RESPONDER, "--script", r->path[0], "--log", r->path[1],
		       "--dir", r->dir, "--idle", "60", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	while (r->pid > 0 && got < sizeof line - 1 && !strchr(line, '\n')) {
		struct pollfd p = {out[0], POLLIN, 0};
		ssize_t n;
		if (poll(&p, 1, 10000) <= 0)
			break;
		n = read(out[0], line + got, sizeof line - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(out[0]);
	if (sscanf(line, "PORT %d", &r->port) != 1)
		return -1;
	return 0;
}

/* Stops the responder and appends its log to log (when not NULL). */
static void responder_stop(struct responder *r, struct mb_buf *log)
{
	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		waitpid(r->pid, NULL, 0);
	}
	if (log)
		mb_file_read(r->path[1], 1u << 20, log, NULL);
	for (int i = 0; i < 3; i++)
		unlink(r->path[i]);
	if (r->dir[0]) {
		char key[128];
		snprintf(key, sizeof key, "%s/key.pem", r->dir);
		unlink(key);
		rmdir(r->dir);
	}
}

/* ---- one send ---- */

struct send_case {
	const char *name;
	const char *script;
	enum mb_tls tls;
	bool tls_verify;
	bool ca_file;     /* trust the responder's certificate */
	const char *user; /* AUTH user (password PASSWORD) */
	const char *host; /* default 127.0.0.1 */
	bool eight_bit;   /* send message_8bit */
	long timeout;     /* seconds (default 5) */
	/* want */
	enum mb_state state;
	enum mb_stage stage;
	int code;
	const char *enhanced;
	const char *text;     /* exact */
	const char *text_has; /* substring, when text is NULL */
	const char *queue_id;
	const char *log_has[4];
	const char *log_lacks[3];
};

#define EHLO_PLAIN                                                                                 \
	"EHLO: 250-mx.test\nEHLO: 250-PIPELINING\nEHLO: 250-SIZE 10240000\n"                       \
	"EHLO: 250-ENHANCEDSTATUSCODES\nEHLO: 250-8BITMIME\nEHLO: 250 DSN\n"
#define EHLO_CHUNKING                                                                              \
	"EHLO: 250-mx.test\nEHLO: 250-PIPELINING\nEHLO: 250-ENHANCEDSTATUSCODES\n"                 \
	"EHLO: 250-8BITMIME\nEHLO: 250-CHUNKING\nEHLO: 250 DSN\n"
#define EHLO_BARE "EHLO: 250-mx.test\nEHLO: 250 8BITMIME\n"
#define EHLO_AUTH(mechs)                                                                           \
	"EHLO: 250-mx.test\nEHLO: 250-ENHANCEDSTATUSCODES\nEHLO: 250-AUTH " mechs                  \
	"\nEHLO: 250 DSN\n"
#define EHLO_STARTTLS                                                                              \
	"EHLO: 250-mx.test\nEHLO: 250-STARTTLS\nEHLO: 250-ENHANCEDSTATUSCODES\n"                   \
	"EHLO: 250-AUTH PLAIN LOGIN\nEHLO: 250 DSN\n"

static const struct send_case cases[] = {
    {.name = "accepted (DATA)",
     .script = EHLO_PLAIN,
     .state = MB_STATE_PENDING,
     .stage = MB_STAGE_DATA,
     .code = 250,
     .enhanced = "2.0.0",
     .text = "Ok: queued as 4ABC123",
     .queue_id = "4ABC123",
     .log_has = {"C: EHLO test.example", "C: MAIL FROM:<bounces+send-1@example.com> SIZE=",
                 "C: RCPT TO:<user@example.net> NOTIFY=SUCCESS,FAILURE,DELAY",
                 "D: X-Mailbisect-Pool: pool-a\nD: From: Sender <sender@example.com>\n"},
     .log_lacks = {"C: BDAT"}},
    {.name = "accepted (DSN parameters, dot stuffing)",
     .script = EHLO_PLAIN,
     .state = MB_STATE_PENDING,
     .stage = MB_STAGE_DATA,
     .code = 250,
     .enhanced = "2.0.0",
     .text = "Ok: queued as 4ABC123",
     .queue_id = "4ABC123",
     .log_has = {" RET=HDRS", " ENVID=send-1", "D: .A line that starts with a dot.\n"}},
    {.name = "accepted (BDAT)",
     .script = EHLO_CHUNKING "END: 250 2.0.0 Ok: queued as 7DEF456\n",
     .state = MB_STATE_PENDING,
     .stage = MB_STAGE_DATA,
     .code = 250,
     .enhanced = "2.0.0",
     .text = "Ok: queued as 7DEF456",
     .queue_id = "7DEF456",
     .log_has = {"C: BDAT", " LAST\n", "D: X-Mailbisect-Pool: pool-a\n"},
     .log_lacks = {"C: DATA"}},
    {.name = "accepted, no ENHANCEDSTATUSCODES, Exim id",
     .script = EHLO_BARE "END: 250 OK id=1rAbCd-0001Xy-2Z\n",
     .state = MB_STATE_PENDING,
     .stage = MB_STAGE_DATA,
     .code = 250,
     .enhanced = "",
     .text = "OK id=1rAbCd-0001Xy-2Z",
     .queue_id = "1rAbCd-0001Xy-2Z",
     .log_lacks = {"RET=HDRS"}},
    {.name = "enhanced code taken from the text without ENHANCEDSTATUSCODES",
     .script = EHLO_BARE "RCPT: 550-5.7.1 first line\nRCPT: 550 5.7.1 second line\n",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_RCPT,
     .code = 550,
     .enhanced = "5.7.1",
     .text = "first line\r\nsecond line"},
    {.name = "accepted, Postfix 3.7 reply with the size",
     .script = EHLO_PLAIN "END: 250 2.0.0 Ok: 343 bytes queued as BADD7A72318\n",
     .state = MB_STATE_PENDING,
     .stage = MB_STAGE_DATA,
     .code = 250,
     .enhanced = "2.0.0",
     .text = "Ok: 343 bytes queued as BADD7A72318",
     .queue_id = "BADD7A72318"},
    {.name = "8-bit message declared BODY=8BITMIME",
     .script = EHLO_PLAIN,
     .eight_bit = true,
     .state = MB_STATE_PENDING,
     .stage = MB_STAGE_DATA,
     .code = 250,
     .enhanced = "2.0.0",
     .text = "Ok: queued as 4ABC123",
     .log_has = {" BODY=8BITMIME", "D: Caf\xc3\xa9.\n"}},
    {.name = "8-bit message, relay without 8BITMIME",
     .script = "EHLO: 250-mx.test\nEHLO: 250 ENHANCEDSTATUSCODES\n",
     .eight_bit = true,
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_HELO,
     .text_has = "does not offer 8BITMIME, which this message needs",
     .log_lacks = {"C: MAIL"}},
    {.name = "greeting 554",
     .script = "greeting: 554 5.7.1 mx.test: connection refused by policy\n",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_CONNECT,
     .code = 554,
     .enhanced = "5.7.1",
     .text = "mx.test: connection refused by policy",
     .log_lacks = {"C: MAIL"}},
    {.name = "greeting 421, multi-line",
     .script = "greeting: 421-4.7.0 mx.test too many connections\n"
               "greeting: 421 4.7.0 try again later\n",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_CONNECT,
     .code = 421,
     .enhanced = "4.7.0",
     .text = "mx.test too many connections\r\ntry again later"},
    {.name = "EHLO 550",
     .script = "EHLO: 550 5.7.1 Client host rejected: go away\n",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_HELO,
     .code = 550,
     .enhanced = "5.7.1",
     .text = "Client host rejected: go away",
     .log_lacks = {"C: HELO", "C: MAIL"}},
    {.name = "EHLO 502, HELO accepted, no extensions",
     .script = "EHLO: 502 5.5.2 Error: command not recognized\n",
     .state = MB_STATE_PENDING,
     .stage = MB_STAGE_DATA,
     .code = 250,
     .enhanced = "2.0.0",
     .text = "Ok: queued as 4ABC123",
     .queue_id = "4ABC123",
     .log_has = {"C: HELO test.example"},
     .log_lacks = {"RET=HDRS", "NOTIFY="}},
    {.name = "EHLO 500, HELO 550",
     .script = "EHLO: 500 5.5.1 what\nHELO: 550 5.7.1 no HELO either\n",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_HELO,
     .code = 550,
     .enhanced = "5.7.1",
     .text = "no HELO either"},
    {.name = "MAIL 553",
     .script = EHLO_PLAIN "MAIL: 553 5.7.1 <bounces+send-1@example.com>: Sender address "
                          "rejected: not owned by user sender\n",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_MAIL,
     .code = 553,
     .enhanced = "5.7.1",
     .text = "<bounces+send-1@example.com>: Sender address rejected: not owned by user sender",
     .log_lacks = {"C: RCPT"}},
    {.name = "MAIL 451",
     .script = EHLO_PLAIN "MAIL: 451 4.3.0 Error: queue file write error\n",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_MAIL,
     .code = 451,
     .enhanced = "4.3.0",
     .text = "Error: queue file write error"},
    {.name = "RCPT 550, multi-line S3150",
     .script = EHLO_CHUNKING "RCPT: 550-5.7.1 Messages from [127.0.0.2] weren't sent.\n"
                             "RCPT: 550 5.7.1 Part of their network is on our block list "
                             "(S3150)\n",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_RCPT,
     .code = 550,
     .enhanced = "5.7.1",
     .text = "Messages from [127.0.0.2] weren't sent.\r\nPart of their network is on our "
             "block list (S3150)",
     .log_lacks = {"C: DATA", "C: BDAT", "D: "}},
    {.name = "RCPT 450",
     .script = EHLO_PLAIN "RCPT: 450 4.2.0 <user@example.net>: Recipient address rejected: "
                          "Greylisted\n",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_RCPT,
     .code = 450,
     .enhanced = "4.2.0",
     .text = "<user@example.net>: Recipient address rejected: Greylisted",
     .log_lacks = {"C: DATA"}},
    {.name = "DATA 554",
     .script = EHLO_PLAIN "DATA: 554 5.5.1 Error: no valid recipients\n",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_DATA,
     .code = 554,
     .enhanced = "5.5.1",
     .text = "Error: no valid recipients",
     .log_lacks = {"D: "}},
    {.name = "end of data 554",
     .script = EHLO_PLAIN "END: 554 5.7.1 Email rejected due to security policies\n",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_DATA,
     .code = 554,
     .enhanced = "5.7.1",
     .text = "Email rejected due to security policies"},
    {.name = "end of data 451",
     .script = EHLO_PLAIN "END: 451 4.7.1 Try again later\n",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_DATA,
     .code = 451,
     .enhanced = "4.7.1",
     .text = "Try again later"},
    {.name = "BDAT LAST 552",
     .script = EHLO_CHUNKING "END: 552 5.3.4 Message size exceeds fixed limit\n",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_DATA,
     .code = 552,
     .enhanced = "5.3.4",
     .text = "Message size exceeds fixed limit"},
    {.name = "connection closed instead of a greeting",
     .script = "greeting: !close\n",
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_CONNECT,
     .text_has = "closed the connection before its greeting"},
    {.name = "connection closed after MAIL",
     .script = EHLO_PLAIN "MAIL: !close\n",
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_MAIL,
     .text_has = "closed the connection without replying to MAIL FROM"},
    {.name = "connection closed after the message",
     .script = EHLO_PLAIN "END: !close\n",
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_DATA,
     .text_has = "closed the connection before replying to the end of the message; it may "
                 "or may not have accepted it"},
    {.name = "no greeting (timeout)",
     .script = "greeting: !hang\n",
     .timeout = 1,
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_CONNECT,
     .text_has = "no greeting from 127.0.0.1:"},
    {.name = "no reply to RCPT (timeout)",
     .script = EHLO_PLAIN "RCPT: !hang\n",
     .timeout = 1,
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_RCPT,
     .text_has = "to RCPT TO within 1 s"},
    {.name = "no reply to the end of data (timeout)",
     .script = EHLO_PLAIN "END: !hang\n",
     .timeout = 1,
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_DATA,
     .text_has = "to the end of the message within 1 s; it may or may not have accepted it"},
    {.name = "garbage greeting",
     .script = "greeting: !raw HELLO THERE\n",
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_CONNECT,
     .text_has = "sent an invalid greeting"},
    {.name = "garbage reply to MAIL",
     .script = EHLO_PLAIN "MAIL: !raw ok, sure\\r\\n\n",
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_MAIL,
     .text_has = "sent an invalid reply to MAIL FROM"},
    {.name = "multi-line reply with mismatched codes",
     .script = EHLO_PLAIN "RCPT: 550-5.7.1 one\nRCPT: 551 5.7.1 two\n",
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_RCPT,
     .text_has = "sent an invalid reply to RCPT TO"},
    {.name = "AUTH PLAIN accepted",
     .script = EHLO_AUTH("PLAIN") "AUTH: 235 2.7.0 Authentication successful\n",
     .user = "sender",
     .state = MB_STATE_PENDING,
     .stage = MB_STAGE_DATA,
     .code = 250,
     .enhanced = "2.0.0",
     .text = "Ok: queued as 4ABC123",
     .queue_id = "4ABC123",
     .log_has = {"C: AUTH PLAIN " PLAIN_RESPONSE "\n"}},
    {.name = "AUTH LOGIN accepted",
     .script = EHLO_AUTH("LOGIN") "AUTH: 334 UGFzc3dvcmQ6\n"
                                  "AUTH2: 235 2.7.0 Authentication successful\n",
     .user = "sender",
     .state = MB_STATE_PENDING,
     .stage = MB_STAGE_DATA,
     .code = 250,
     .enhanced = "2.0.0",
     .text = "Ok: queued as 4ABC123",
     .log_has = {"C: AUTH LOGIN c2VuZGVy\n"}}, /* the user name as initial response */
    {.name = "AUTH refused, nothing sent although the relay takes MAIL and RCPT",
     .script = EHLO_AUTH("PLAIN LOGIN"),
     .user = "sender",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_AUTH,
     .code = 535,
     .enhanced = "5.7.8",
     .text = "Error: authentication failed: authentication failure",
     /* LOGIN is tried next, without credentials (it would send the user name at once) */
     .log_has = {"C: AUTH PLAIN " PLAIN_RESPONSE "\n", "C: AUTH LOGIN\n"},
     .log_lacks = {"D: ", "c2VuZGVy"}},
    {.name = "AUTH refused, relay offers CHUNKING",
     .script = "EHLO: 250-mx.test\nEHLO: 250-CHUNKING\nEHLO: 250-AUTH PLAIN\nEHLO: 250 DSN\n",
     .user = "sender",
     .state = MB_STATE_SUBMIT_REFUSED,
     .stage = MB_STAGE_AUTH,
     .code = 535,
     .enhanced = "5.7.8",
     .text = "Error: authentication failed: authentication failure",
     .log_lacks = {"C: BDAT", "D: "}},
    {.name = "AUTH not offered",
     .script = EHLO_PLAIN,
     .user = "sender",
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_AUTH,
     .text_has = "does not offer AUTH (many relays offer it only after STARTTLS); nothing "
                 "was sent",
     .log_lacks = {"D: "}},
    {.name = "AUTH: no reply",
     .script = EHLO_AUTH("PLAIN") "AUTH: !hang\n",
     .user = "sender",
     .timeout = 1,
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_AUTH,
     .text_has = "to AUTH within 1 s"},
    {.name = "STARTTLS not offered",
     .script = EHLO_PLAIN,
     .tls = MB_TLS_STARTTLS,
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_HELO,
     .text_has = "STARTTLS failed: 127.0.0.1:",
     .log_lacks = {"C: MAIL"}},
    {.name = "STARTTLS 454",
     .script = EHLO_STARTTLS,
     .tls = MB_TLS_STARTTLS,
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_HELO,
     .code = 454,
     .enhanced = "4.7.0",
     .text = "TLS not available due to local problem",
     .log_lacks = {"C: MAIL"}},
    {.name = "STARTTLS, connection closed before the handshake",
     .script = EHLO_STARTTLS "STARTTLS: !raw 220 2.0.0 Ready to start TLS\\r\\n\n",
     .tls = MB_TLS_STARTTLS,
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_HELO,
     .text_has = "STARTTLS failed: TLS handshake with 127.0.0.1:"},
    {.name = "STARTTLS, self-signed, tls_verify false",
     .script = EHLO_STARTTLS "STARTTLS: !tls\n",
     .tls = MB_TLS_STARTTLS,
     .state = MB_STATE_PENDING,
     .stage = MB_STAGE_DATA,
     .code = 250,
     .enhanced = "2.0.0",
     .text = "Ok: queued as 4ABC123",
     .log_has = {"C: STARTTLS\nSNI None\nTLS\nC: EHLO test.example\n"}}, /* no SNI for an IP */
    {.name = "STARTTLS, self-signed, tls_verify true",
     .script = EHLO_STARTTLS "STARTTLS: !tls\n",
     .tls = MB_TLS_STARTTLS,
     .tls_verify = true,
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_HELO,
     .text_has = "not accepted: self-signed certificate (verify error 18)",
     .log_lacks = {"C: MAIL", "C: AUTH"}},
    {.name = "STARTTLS, tls_verify true, ca_file, IP in the certificate",
     .script = EHLO_STARTTLS "STARTTLS: !tls\n",
     .tls = MB_TLS_STARTTLS,
     .tls_verify = true,
     .ca_file = true,
     .state = MB_STATE_PENDING,
     .stage = MB_STAGE_DATA,
     .code = 250,
     .enhanced = "2.0.0",
     .text = "Ok: queued as 4ABC123"},
    {.name = "STARTTLS, tls_verify true, ca_file, other name in the certificate",
     .script = EHLO_STARTTLS "STARTTLS: !tls\nTLS-SAN: DNS:mx.test\n",
     .tls = MB_TLS_STARTTLS,
     .tls_verify = true,
     .ca_file = true,
     .state = MB_STATE_ERROR,
     .stage = MB_STAGE_HELO,
     .text_has = "IP address mismatch",
     .log_lacks = {"C: MAIL"}},
    {.name = "STARTTLS by host name: SNI, ::1 refused then 127.0.0.1",
     .script = EHLO_STARTTLS "STARTTLS: !tls\n",
     .tls = MB_TLS_STARTTLS,
     .host = "localhost",
     .state = MB_STATE_PENDING,
     .stage = MB_STAGE_DATA,
     .code = 250,
     .enhanced = "2.0.0",
     .text = "Ok: queued as 4ABC123",
     .log_has = {"SNI localhost\n"}},
    {.name = "STARTTLS and AUTH",
     .script = EHLO_STARTTLS "STARTTLS: !tls\nAUTH: 235 2.7.0 Authentication successful\n",
     .tls = MB_TLS_STARTTLS,
     .user = "sender",
     .state = MB_STATE_PENDING,
     .stage = MB_STAGE_DATA,
     .code = 250,
     .enhanced = "2.0.0",
     .text = "Ok: queued as 4ABC123",
     .log_has = {"TLS\nC: EHLO test.example\nC: AUTH PLAIN " PLAIN_RESPONSE "\n"}},
};

static void pool_init(struct mb_pool_spec *pool, struct mb_header_field *header, int port)
{
	memset(pool, 0, sizeof *pool);
	header->name = "X-Mailbisect-Pool";
	header->value = "pool-a";
	pool->name = "pool-a";
	pool->transport = "smtp";
	pool->host = "127.0.0.1";
	pool->port = port;
	pool->helo = "test.example";
	pool->headers = header;
	pool->n_headers = 1;
	pool->timeout_seconds = 5;
}

static const struct mb_envelope envelope = {"bounces+send-1@example.com", "user@example.net",
                                            "send-1", true};

static int send_message(const struct mb_pool_spec *pool, const char *password, const char *msg,
                        struct mb_send_result *res, struct mb_err *err)
{
	return mb_transport_find("smtp")->send(pool, password, &envelope, msg, strlen(msg), res,
	                                       err);
}

static int send_once(const struct mb_pool_spec *pool, const char *password,
                     struct mb_send_result *res, struct mb_err *err)
{
	return send_message(pool, password, message, res, err);
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			print_error("case \"%s\": ", c->name);                                     \
			print_error(__VA_ARGS__);                                                  \
			print_error("\n");                                                         \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static int run_case(const struct send_case *c)
{
	struct responder r;
	struct mb_pool_spec pool;
	struct mb_header_field header;
	struct mb_send_result res = {0};
	struct mb_err err = MB_ERR_INIT;
	struct mb_buf log = MB_BUF_INIT;
	char relay[64];
	int failures = 0, rc;

	if (responder_start(&r, c->script) != 0) {
		responder_stop(&r, NULL);
		print_error("case \"%s\": cannot start %s (python3 needed)\n", c->name, RESPONDER);
		return 1;
	}
	pool_init(&pool, &header, r.port);
	pool.tls = c->tls;
	pool.tls_verify = c->tls_verify;
	pool.ca_file = c->ca_file ? r.path[2] : NULL;
	pool.auth_user = (char *)c->user;
	if (c->timeout)
		pool.timeout_seconds = c->timeout;
	if (c->host)
		pool.host = (char *)c->host;
	rc = send_message(&pool, c->user ? PASSWORD : NULL, c->eight_bit ? message_8bit : message,
	                  &res, &err);
	responder_stop(&r, &log);
	mb_buf_terminate(&log);
	snprintf(relay, sizeof relay, "%s:%d", pool.host, r.port);

	CHECK(rc == 0, "got rc %d (%s), want 0", rc, err.message);
	if (rc == 0) {
		CHECK(res.state == c->state, "got state %s, want %s", mb_state_name(res.state),
		      mb_state_name(c->state));
		CHECK(res.stage == c->stage, "got stage %s, want %s", mb_stage_name(res.stage),
		      mb_stage_name(c->stage));
		CHECK(res.code == c->code, "got code %d, want %d", res.code, c->code);
		CHECK(strcmp(res.enhanced, c->enhanced ? c->enhanced : "") == 0,
		      "got enhanced \"%s\", want \"%s\"", res.enhanced,
		      c->enhanced ? c->enhanced : "");
		CHECK(res.text != NULL, "got no text");
		if (res.text && c->text)
			CHECK(strcmp(res.text, c->text) == 0, "got text \"%s\", want \"%s\"",
			      res.text, c->text);
		if (res.text && c->text_has)
			CHECK(strstr(res.text, c->text_has) != NULL,
			      "got text \"%s\", want it to contain \"%s\"", res.text, c->text_has);
		if (res.text)
			CHECK(strstr(res.text, PASSWORD) == NULL, "the password is in the text");
		if (c->queue_id)
			CHECK(res.queue_id && strcmp(res.queue_id, c->queue_id) == 0,
			      "got queue id \"%s\", want \"%s\"", res.queue_id ? res.queue_id : "",
			      c->queue_id);
		else if (c->state != MB_STATE_PENDING)
			CHECK(res.queue_id == NULL, "got queue id \"%s\", want none", res.queue_id);
		CHECK(res.relay && strcmp(res.relay, relay) == 0, "got relay \"%s\", want \"%s\"",
		      res.relay ? res.relay : "", relay);
	}
	CHECK(strstr(err.message, PASSWORD) == NULL, "the password is in the error");
	for (int i = 0; i < 4 && c->log_has[i]; i++)
		CHECK(strstr(log.data, c->log_has[i]) != NULL,
		      "responder log lacks \"%s\"; log:\n%s", c->log_has[i], log.data);
	for (int i = 0; i < 3 && c->log_lacks[i]; i++)
		CHECK(strstr(log.data, c->log_lacks[i]) == NULL,
		      "responder log has \"%s\"; log:\n%s", c->log_lacks[i], log.data);
	mb_send_result_clear(&res);
	mb_buf_free(&log);
	return failures;
}

static void test_replies(void **state)
{
	int failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		failures += run_case(&cases[i]);
	if (failures)
		fail_msg("%d mismatches (above)", failures);
}

/* A reply over libesmtp's 4 KiB limit is a protocol error, not a truncated refusal. */
static void test_oversized_reply(void **state)
{
	struct send_case big = {.name = "RCPT reply over 4 KiB",
	                        .state = MB_STATE_ERROR,
	                        .stage = MB_STAGE_RCPT,
	                        .text_has = "sent an invalid reply to RCPT TO"};
	struct mb_buf script = MB_BUF_INIT;
	(void)state;
	assert_int_equal(mb_buf_puts(&script, EHLO_PLAIN), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(mb_buf_printf(&script,
		                               "RCPT: 550-5.7.1 line %02d of a very long refusal "
		                               "text that goes on and on and on\n",
		                               i),
		                 0);
	assert_int_equal(mb_buf_puts(&script, "RCPT: 550 5.7.1 end\n"), 0);
	big.script = script.data;
	assert_int_equal(run_case(&big), 0);
	mb_buf_free(&script);
}

static void test_connection_refused(void **state)
{
	struct sockaddr_in addr = {0};
	socklen_t alen = sizeof addr;
	struct mb_pool_spec pool;
	struct mb_header_field header;
	struct mb_send_result res = {0};
	struct mb_err err = MB_ERR_INIT;
	char want[96];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
	close(fd); /* the port is free and nothing listens on it */
	pool_init(&pool, &header, ntohs(addr.sin_port));
	assert_int_equal(send_once(&pool, NULL, &res, &err), 0);
	snprintf(want, sizeof want, "cannot connect to 127.0.0.1:%d: Connection refused",
	         ntohs(addr.sin_port));
	if (res.state != MB_STATE_ERROR || res.stage != MB_STAGE_CONNECT || res.code != 0 ||
	    strcmp(res.text, want) != 0)
		fail_msg("got %s/%s/%d \"%s\", want error/connect/0 \"%s\"",
		         mb_state_name(res.state), mb_stage_name(res.stage), res.code, res.text,
		         want);
	mb_send_result_clear(&res);
}

/* Several TLS sessions in one process: libesmtp's default TLS context is freed with the first
 * session, so this crashes unless every session has its own. */
static void test_tls_sessions_in_a_row(void **state)
{
	struct responder r;
	struct mb_pool_spec pool;
	struct mb_header_field header;
	(void)state;
	assert_int_equal(responder_start(&r, EHLO_STARTTLS "STARTTLS: !tls\n"), 0);
	pool_init(&pool, &header, r.port);
	pool.tls = MB_TLS_STARTTLS;
	for (int i = 0; i < 5; i++) {
		struct mb_send_result res = {0};
		struct mb_err err = MB_ERR_INIT;
		assert_int_equal(send_once(&pool, NULL, &res, &err), 0);
		if (res.state != MB_STATE_PENDING)
			fail_msg("session %d: got %s \"%s\", want pending", i,
			         mb_state_name(res.state), res.text);
		mb_send_result_clear(&res);
	}
	responder_stop(&r, NULL);
}

/* Local failures: nothing is sent, the return value is negative and err says why. */
static void test_refused_before_sending(void **state)
{
	static const char long_password[] =
	    "0123456789012345678901234567890123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789012345678901234567890123456789";
	static const struct {
		const char *name;
		const char *host;
		enum mb_tls tls;
		const char *user, *password;
		const char *header_name, *header_value;
		const char *msg;
		const char *envid;
		int rc;
		const char *message_has;
	} bad[] = {
	    {"implicit TLS", "127.0.0.1", MB_TLS_IMPLICIT, NULL, NULL, NULL, NULL, NULL, NULL,
	     MB_ECONFIG,
	     "tls \"implicit\" (TLS from the first byte, usually port 465) cannot be "
	     "used"},
	    {"IPv6 literal", "::1", MB_TLS_NONE, NULL, NULL, NULL, NULL, NULL, NULL, MB_ECONFIG,
	     "IPv6"},
	    {"password over 255 bytes", "127.0.0.1", MB_TLS_STARTTLS, "sender", long_password, NULL,
	     NULL, NULL, NULL, MB_ECONFIG, "longer than 255 bytes"},
	    {"AUTH user without password", "127.0.0.1", MB_TLS_STARTTLS, "sender", NULL, NULL, NULL,
	     NULL, NULL, MB_ECONFIG, "no password"},
	    {"AUTH in clear text to a remote relay", "relay.example.com", MB_TLS_NONE, "sender",
	     PASSWORD, NULL, NULL, NULL, NULL, MB_ECONFIG, "clear text"},
	    {"header name with a colon", "127.0.0.1", MB_TLS_NONE, NULL, NULL, "X-Bad:Name", "v",
	     NULL, NULL, MB_ECONFIG, "invalid header name"},
	    {"header value with a line break", "127.0.0.1", MB_TLS_NONE, NULL, NULL, "X-Pool",
	     "a\r\nBcc: victim@example.org", NULL, NULL, MB_ECONFIG, "line break"},
	    {"bare LF message", "127.0.0.1", MB_TLS_NONE, NULL, NULL, NULL, NULL,
	     "Subject: x\n\nbody\n", NULL, MB_EDATA, "bare LF"},
	    {"envid with a space", "127.0.0.1", MB_TLS_NONE, NULL, NULL, NULL, NULL, NULL, "send 1",
	     MB_EDATA, "envelope id"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct mb_pool_spec pool;
		struct mb_header_field header;
		struct mb_envelope env = envelope;
		struct mb_send_result res = {0};
		struct mb_err err = MB_ERR_INIT;
		const char *msg = bad[i].msg ? bad[i].msg : message;
		int rc;

		pool_init(&pool, &header, 9); /* discard port: nothing may connect anyway */
		pool.host = (char *)bad[i].host;
		pool.tls = bad[i].tls;
		pool.auth_user = (char *)bad[i].user;
		if (bad[i].header_name) {
			header.name = (char *)bad[i].header_name;
			header.value = (char *)bad[i].header_value;
		}
		if (bad[i].envid)
			env.envid = bad[i].envid;
		rc = mb_transport_find("smtp")->send(&pool, bad[i].password, &env, msg, strlen(msg),
		                                     &res, &err);
		if (rc != bad[i].rc || !strstr(err.message, bad[i].message_has))
			fail_msg("%s: got rc %d \"%s\", want rc %d and \"%s\"", bad[i].name, rc,
			         err.message, bad[i].rc, bad[i].message_has);
		if (strstr(err.message, long_password) || strstr(err.message, PASSWORD))
			fail_msg("%s: the password is in the error", bad[i].name);
		if (res.text || res.relay || res.queue_id)
			fail_msg("%s: result filled on a local failure", bad[i].name);
	}
}

/* ---- the check before a run ---- */

#define PASSWORD_BASE64 "czNjcmV0LXB3"

struct check_case {
	const char *name;
	const char *script;
	enum mb_tls tls;
	bool tls_verify;
	bool ca_file;        /* trust the responder's certificate */
	const char *ca_path; /* a ca_file of our own (one that does not exist) */
	const char *user;    /* AUTH user (password PASSWORD) */
	const char *host;    /* default 127.0.0.1 */
	long timeout;        /* seconds (default 5) */
	/* want */
	int rc;
	const char *message_has[3];
	bool no_connection; /* the responder saw nothing at all */
	const char *log_has[3];
	const char *log_lacks[3];
};

static const struct check_case check_cases[] = {
    {.name = "usable relay: EHLO, QUIT, no mail transaction",
     .script = EHLO_PLAIN,
     .rc = 0,
     .log_has = {"C: EHLO test.example\nC: QUIT\n"}},
    {.name = "IMAP server on the port",
     .script = "greeting: !raw * OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\\r\\n\n",
     .rc = MB_EPROTO,
     .message_has = {"127.0.0.1:", " does not speak SMTP: it greeted with \"* OK [CAPABILITY "
                                   "IMAP4rev1 STARTTLS] Dovecot ready.\"; check host and port"},
     .log_lacks = {"C: EHLO"}},
    {.name = "greeting 554",
     .script = "greeting: 554 5.7.1 mx.test: connection refused by policy\n",
     .rc = MB_EUNAVAIL,
     .message_has = {"refused the connection: 554 5.7.1 mx.test: connection refused by policy"},
     .log_lacks = {"C: EHLO"}},
    {.name = "greeting 421, multi-line",
     .script = "greeting: 421-4.7.0 mx.test too many connections\n"
               "greeting: 421 4.7.0 try again later\n",
     .rc = MB_EUNAVAIL,
     .message_has = {"refused the connection: 421 4.7.0 mx.test too many connections 4.7.0 "
                     "try again later"}},
    {.name = "greeting with mismatched codes",
     .script = "greeting: 220-mx.test\ngreeting: 554 go away\n",
     .rc = MB_EPROTO,
     .message_has = {"does not speak SMTP: it greeted with \"554 go away\""}},
    {.name = "connection closed instead of a greeting",
     .script = "greeting: !close\n",
     .rc = MB_EUNAVAIL,
     .message_has = {"closed the connection before its greeting"}},
    {.name = "no greeting (timeout)",
     .script = "greeting: !hang\n",
     .timeout = 1,
     .rc = MB_EUNAVAIL,
     .message_has = {"no greeting from 127.0.0.1:", " within 1 s; is it an SMTP port?"}},
    {.name = "EHLO 550",
     .script = "EHLO: 550 5.7.1 Client host rejected: go away\n",
     .rc = MB_EUNAVAIL,
     .message_has = {"refused EHLO test.example: 550 5.7.1 Client host rejected: go away"},
     .log_lacks = {"C: HELO"}},
    {.name = "EHLO 502, HELO accepted",
     .script = "EHLO: 502 5.5.2 Error: command not recognized\n",
     .rc = 0,
     .log_has = {"C: EHLO test.example\nC: HELO test.example\nC: QUIT\n"}},
    {.name = "EHLO 500, HELO 550",
     .script = "EHLO: 500 5.5.1 what\nHELO: 550 5.7.1 no HELO either\n",
     .rc = MB_EUNAVAIL,
     .message_has = {"refused EHLO and HELO test.example: 550 5.7.1 no HELO either"}},
    {.name = "EHLO answered with garbage",
     .script = "EHLO: !raw ok, sure\\r\\n\n",
     .rc = MB_EPROTO,
     .message_has = {"sent an invalid reply to EHLO: \"ok, sure\""}},
    {.name = "no reply to EHLO (timeout)",
     .script = "EHLO: !hang\n",
     .timeout = 1,
     .rc = MB_EUNAVAIL,
     .message_has = {"no reply from 127.0.0.1:", " to EHLO within 1 s"}},
    {.name = "STARTTLS not offered",
     .script = EHLO_PLAIN,
     .tls = MB_TLS_STARTTLS,
     .rc = MB_ECONFIG,
     .message_has = {"does not offer STARTTLS, which tls \"starttls\" requires; use the relay's "
                     "submission port (usually 587)"},
     .log_has = {"C: EHLO test.example\nC: QUIT\n"},
     .log_lacks = {"C: STARTTLS"}},
    {.name = "STARTTLS refused",
     .script = EHLO_STARTTLS,
     .tls = MB_TLS_STARTTLS,
     .rc = MB_EUNAVAIL,
     .message_has = {"refused STARTTLS: 454 4.7.0 TLS not available due to local problem"}},
    {.name = "STARTTLS, connection closed before the handshake",
     .script = EHLO_STARTTLS "STARTTLS: !raw 220 2.0.0 Ready to start TLS\\r\\n\n",
     .tls = MB_TLS_STARTTLS,
     .rc = MB_EUNAVAIL,
     .message_has = {"closed the connection during the TLS handshake"}},
    {.name = "STARTTLS, more data after the reply (injection)",
     .script = EHLO_STARTTLS "STARTTLS: !raw 220 2.0.0 Go ahead\\r\\n250 injected\\r\\n\n",
     .tls = MB_TLS_STARTTLS,
     .rc = MB_EPROTO,
     .message_has = {"sent more after its reply to STARTTLS, before the TLS handshake"}},
    {.name = "STARTTLS, self-signed, tls_verify false",
     .script = EHLO_STARTTLS "STARTTLS: !tls\n",
     .tls = MB_TLS_STARTTLS,
     .rc = 0,
     .log_has = {"C: STARTTLS\nSNI None\nTLS\nC: EHLO test.example\nC: QUIT\n"}},
    {.name = "STARTTLS, self-signed, tls_verify true",
     .script = EHLO_STARTTLS "STARTTLS: !tls\n",
     .tls = MB_TLS_STARTTLS,
     .tls_verify = true,
     .rc = MB_ECONFIG,
     .message_has = {"certificate of 127.0.0.1:",
                     " not accepted: self-signed certificate (verify error 18); set ca_file to "
                     "the CA that signed it, or tls_verify to false for a test relay"},
     .log_lacks = {"TLS\nC: EHLO"}},
    {.name = "STARTTLS, tls_verify true, ca_file, IP in the certificate",
     .script = EHLO_STARTTLS "STARTTLS: !tls\n",
     .tls = MB_TLS_STARTTLS,
     .tls_verify = true,
     .ca_file = true,
     .rc = 0,
     .log_has = {"TLS\nC: EHLO test.example\nC: QUIT\n"}},
    {.name = "STARTTLS, tls_verify true, ca_file, other name in the certificate",
     .script = EHLO_STARTTLS "STARTTLS: !tls\nTLS-SAN: DNS:mx.test\n",
     .tls = MB_TLS_STARTTLS,
     .tls_verify = true,
     .ca_file = true,
     .rc = MB_ECONFIG,
     .message_has = {"not accepted: IP address mismatch (verify error 64); use a host name the "
                     "certificate lists"}},
    {.name = "STARTTLS by host name: SNI, certificate for that name",
     .script = EHLO_STARTTLS "STARTTLS: !tls\nTLS-SAN: DNS:localhost\n",
     .tls = MB_TLS_STARTTLS,
     .tls_verify = true,
     .ca_file = true,
     .host = "localhost",
     .rc = 0,
     .log_has = {"SNI localhost\nTLS\nC: EHLO test.example\n"}},
    {.name = "ca_file missing: refused before connecting",
     .script = EHLO_STARTTLS "STARTTLS: !tls\n",
     .tls = MB_TLS_STARTTLS,
     .tls_verify = true,
     .ca_path = "/nonexistent/mailbisect-ca.pem",
     .rc = MB_ECONFIG,
     .message_has = {"cannot read ca_file /nonexistent/mailbisect-ca.pem: No such file or "
                     "directory; set ca_file to the CA bundle"},
     .no_connection = true},
    {.name = "implicit TLS: refused before connecting",
     .script = EHLO_PLAIN,
     .tls = MB_TLS_IMPLICIT,
     .rc = MB_ECONFIG,
     .message_has = {"tls \"implicit\"", "libesmtp 1.1, which sends the messages, speaks TLS "
                                         "only through STARTTLS; set tls to starttls"},
     .no_connection = true},
    {.name = "AUTH not offered",
     .script = EHLO_PLAIN,
     .user = "sender",
     .rc = MB_ECONFIG,
     .message_has = {"does not offer AUTH, which auth.user needs (many relays offer it only "
                     "after STARTTLS"},
     .log_lacks = {"C: AUTH"}},
    {.name = "AUTH offered only with mechanisms we cannot use",
     .script = EHLO_AUTH("CRAM-MD5 DIGEST-MD5"),
     .user = "sender",
     .rc = MB_ECONFIG,
     .message_has = {"offers no AUTH mechanism this transport can use (PLAIN or LOGIN); it "
                     "offers: CRAM-MD5 DIGEST-MD5"},
     .log_lacks = {"C: AUTH"}},
    {.name = "AUTH refused (535): one attempt, credentials named",
     .script = EHLO_AUTH("PLAIN LOGIN"),
     .user = "sender",
     .rc = MB_ECONFIG,
     .message_has = {"refused the login of sender: 535 5.7.8 Error: authentication failed: "
                     "authentication failure; credentials problem on your side, not a receiver "
                     "block; nothing was sent"},
     .log_has = {"C: AUTH PLAIN " PLAIN_RESPONSE "\nC: QUIT\n"},
     .log_lacks = {"C: AUTH LOGIN"}},
    {.name = "AUTH refused with the password echoed",
     .script = EHLO_AUTH("PLAIN") "AUTH: 535 5.7.8 wrong password s3cret-pw (" PLAIN_RESPONSE ")\n",
     .user = "sender",
     .rc = MB_ECONFIG,
     .message_has = {"535 5.7.8 wrong password [hidden] ([hidden]); credentials problem"}},
    {.name = "AUTH temporarily unavailable (454)",
     .script = EHLO_AUTH("PLAIN") "AUTH: 454 4.7.0 Temporary authentication failure\n",
     .user = "sender",
     .rc = MB_EUNAVAIL,
     .message_has = {"could not check the login of sender now: 454 4.7.0 Temporary "
                     "authentication failure"}},
    {.name = "AUTH PLAIN accepted",
     .script = EHLO_AUTH("LOGIN PLAIN") "AUTH: 235 2.7.0 Authentication successful\n",
     .user = "sender",
     .rc = 0,
     .log_has = {"C: EHLO test.example\nC: AUTH PLAIN " PLAIN_RESPONSE "\nC: QUIT\n"}},
    {.name = "AUTH PLAIN, relay asks for the response again",
     .script = EHLO_AUTH("PLAIN") "AUTH: 334 \nAUTH2: 235 2.7.0 Authentication successful\n",
     .user = "sender",
     .rc = 0,
     .log_has = {"C: AUTH PLAIN " PLAIN_RESPONSE "\nR: " PLAIN_RESPONSE "\nC: QUIT\n"}},
    {.name = "AUTH LOGIN accepted",
     .script = EHLO_AUTH("LOGIN") "AUTH: 334 VXNlcm5hbWU6\nAUTH2: 334 UGFzc3dvcmQ6\n"
                                  "AUTH3: 235 2.7.0 Authentication successful\n",
     .user = "sender",
     .rc = 0,
     .log_has = {"C: AUTH LOGIN\nR: c2VuZGVy\nR: " PASSWORD_BASE64 "\nC: QUIT\n"}},
    {.name = "AUTH LOGIN refused",
     .script = EHLO_AUTH("LOGIN") "AUTH: 334 VXNlcm5hbWU6\nAUTH2: 334 UGFzc3dvcmQ6\n"
                                  "AUTH3: 535 5.7.8 Error: authentication failed\n",
     .user = "sender",
     .rc = MB_ECONFIG,
     .message_has = {"refused the login of sender: 535 5.7.8 Error: authentication failed; "
                     "credentials problem on your side"}},
    {.name = "AUTH: no reply (timeout)",
     .script = EHLO_AUTH("PLAIN") "AUTH: !hang\n",
     .user = "sender",
     .timeout = 1,
     .rc = MB_EUNAVAIL,
     .message_has = {"to AUTH within 1 s"}},
    {.name = "STARTTLS and AUTH",
     .script = EHLO_STARTTLS "STARTTLS: !tls\nAUTH: 235 2.7.0 Authentication successful\n",
     .tls = MB_TLS_STARTTLS,
     .user = "sender",
     .rc = 0,
     .log_has = {"TLS\nC: EHLO test.example\nC: AUTH PLAIN " PLAIN_RESPONSE "\nC: QUIT\n"}},
    {.name = "STARTTLS, then AUTH refused",
     .script = EHLO_STARTTLS "STARTTLS: !tls\n",
     .tls = MB_TLS_STARTTLS,
     .user = "sender",
     .rc = MB_ECONFIG,
     .message_has = {"refused the login of sender: 535 5.7.8 "},
     .log_has = {"TLS\nC: EHLO test.example\nC: AUTH PLAIN " PLAIN_RESPONSE "\nC: QUIT\n"}},
};

#undef CHECK
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			print_error("check case \"%s\": ", c->name);                               \
			print_error(__VA_ARGS__);                                                  \
			print_error("\n");                                                         \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static int run_check_case(const struct check_case *c)
{
	/* Whatever the case, the check never starts a mail transaction. */
	static const char *const never[] = {"C: MAIL", "C: RCPT", "C: DATA", "C: BDAT", "D: "};
	struct responder r;
	struct mb_pool_spec pool;
	struct mb_header_field header;
	struct mb_err err = MB_ERR_INIT;
	struct mb_buf log = MB_BUF_INIT;
	int failures = 0, rc;

	if (responder_start(&r, c->script) != 0) {
		responder_stop(&r, NULL);
		print_error("check case \"%s\": cannot start %s (python3 needed)\n", c->name,
		            RESPONDER);
		return 1;
	}
	pool_init(&pool, &header, r.port);
	pool.tls = c->tls;
	pool.tls_verify = c->tls_verify;
	pool.ca_file = c->ca_path ? (char *)c->ca_path : c->ca_file ? r.path[2] : NULL;
	pool.auth_user = (char *)c->user;
	if (c->timeout)
		pool.timeout_seconds = c->timeout;
	if (c->host)
		pool.host = (char *)c->host;
	rc = mb_transport_find("smtp")->check(&pool, c->user ? PASSWORD : NULL, &err);
	responder_stop(&r, &log);
	mb_buf_terminate(&log);

	CHECK(rc == c->rc, "got rc %d (%s), want %d", rc, err.message, c->rc);
	CHECK(rc == 0 || err.code == rc, "got err.code %d, want %d", err.code, rc);
	for (int i = 0; i < 3 && c->message_has[i]; i++)
		CHECK(strstr(err.message, c->message_has[i]) != NULL,
		      "got message \"%s\", want it to contain \"%s\"", err.message,
		      c->message_has[i]);
	CHECK(strchr(err.message, '\n') == NULL && strchr(err.message, '\r') == NULL,
	      "message \"%s\" is not one line", err.message);
	CHECK(strstr(err.message, PASSWORD) == NULL &&
	          strstr(err.message, PLAIN_RESPONSE) == NULL &&
	          strstr(err.message, PASSWORD_BASE64) == NULL,
	      "the password is in the message \"%s\"", err.message);
	if (c->no_connection)
		CHECK(log.len == 0, "the responder saw a connection; log:\n%s", log.data);
	for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
		CHECK(strstr(log.data, never[i]) == NULL, "responder log has \"%s\"; log:\n%s",
		      never[i], log.data);
	for (int i = 0; i < 3 && c->log_has[i]; i++)
		CHECK(strstr(log.data, c->log_has[i]) != NULL,
		      "responder log lacks \"%s\"; log:\n%s", c->log_has[i], log.data);
	for (int i = 0; i < 3 && c->log_lacks[i]; i++)
		CHECK(strstr(log.data, c->log_lacks[i]) == NULL,
		      "responder log has \"%s\"; log:\n%s", c->log_lacks[i], log.data);
	mb_buf_free(&log);
	return failures;
}

static void test_check(void **state)
{
	int failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof check_cases / sizeof check_cases[0]; i++)
		failures += run_check_case(&check_cases[i]);
	if (failures)
		fail_msg("%d mismatches (above)", failures);
}

/* Replies are read within bounds: an endless line is a protocol error, not a hang. */
static void test_check_overlong_line(void **state)
{
	struct check_case big = {.name = "greeting line over 8 KiB",
	                         .rc = MB_EPROTO,
	                         .message_has = {"longer than this transport reads"}};
	struct mb_buf script = MB_BUF_INIT;
	(void)state;
	assert_int_equal(mb_buf_puts(&script, "greeting: 220 "), 0);
	for (int i = 0; i < 9000; i++)
		assert_int_equal(mb_buf_putc(&script, 'x'), 0);
	assert_int_equal(mb_buf_puts(&script, "\n"), 0);
	big.script = script.data;
	assert_int_equal(run_check_case(&big), 0);
	mb_buf_free(&script);
}

static void test_check_connection_refused(void **state)
{
	struct sockaddr_in addr = {0};
	socklen_t alen = sizeof addr;
	struct mb_pool_spec pool;
	struct mb_header_field header;
	struct mb_err err = MB_ERR_INIT;
	char want[96];
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	(void)state;
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
	close(fd); /* the port is free and nothing listens on it */
	pool_init(&pool, &header, ntohs(addr.sin_port));
	rc = mb_transport_find("smtp")->check(&pool, NULL, &err);
	snprintf(want, sizeof want, "cannot connect to 127.0.0.1:%d: Connection refused",
	         ntohs(addr.sin_port));
	if (rc != MB_EUNAVAIL || strcmp(err.message, want) != 0)
		fail_msg("got rc %d \"%s\", want %d \"%s\"", rc, err.message, MB_EUNAVAIL, want);
}

/* Without a helo name the check says EHLO with the same name as a send. */
static void test_check_default_helo(void **state)
{
	struct responder r;
	struct mb_pool_spec pool;
	struct mb_header_field header;
	struct mb_send_result res = {0};
	struct mb_err err = MB_ERR_INIT;
	struct mb_buf log = MB_BUF_INIT;
	const char *first, *second, *end;

	(void)state;
	assert_int_equal(responder_start(&r, EHLO_PLAIN), 0);
	pool_init(&pool, &header, r.port);
	pool.helo = NULL;
	assert_int_equal(mb_transport_find("smtp")->check(&pool, NULL, &err), 0);
	assert_int_equal(send_once(&pool, NULL, &res, &err), 0);
	assert_int_equal(res.state, MB_STATE_PENDING);
	mb_send_result_clear(&res);
	responder_stop(&r, &log);
	assert_int_equal(mb_buf_terminate(&log), 0);
	first = strstr(log.data, "C: EHLO ");
	assert_non_null(first);
	second = strstr(first + 1, "C: EHLO ");
	assert_non_null(second);
	end = strchr(first, '\n');
	assert_non_null(end);
	if (end - first < 9 || strncmp(first, second, (size_t)(end - first + 1)) != 0)
		fail_msg("check and send say different EHLO names; log:\n%s", log.data);
	mb_buf_free(&log);
}

/* The transport table and its list of names agree. */
static void test_transport_table(void **state)
{
	const char *const *names = mb_transport_names();
	(void)state;
	assert_non_null(names[0]);
	for (size_t i = 0; names[i]; i++) {
		const struct mb_transport_ops *t = mb_transport_find(names[i]);
		if (!t || strcmp(t->name, names[i]) != 0 || !t->send)
			fail_msg("transport \"%s\": listed but not found", names[i]);
	}
	assert_non_null(mb_transport_find("smtp"));
	assert_non_null(mb_transport_find("smtp")->check);
	assert_null(mb_transport_find("SMTP"));
	assert_null(mb_transport_find("carrier-pigeon"));
	assert_null(mb_transport_find(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_transport_table),
	    cmocka_unit_test(test_refused_before_sending),
	    cmocka_unit_test(test_connection_refused),
	    cmocka_unit_test(test_replies),
	    cmocka_unit_test(test_oversized_reply),
	    cmocka_unit_test(test_tls_sessions_in_a_row),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_check_overlong_line),
	    cmocka_unit_test(test_check_connection_refused),
	    cmocka_unit_test(test_check_default_helo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
