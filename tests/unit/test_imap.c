/* Unit tests of the IMAP reader against a small scripted IMAP server that the test forks on a
 * loopback port: UID filtering, UIDVALIDITY resets, exact bytes, error classes. The real
 * Dovecot is exercised by the end-to-end tests in the mail lab. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mailbisect/imap.h"

#define N(a)     (sizeof(a) / sizeof((a)[0]))
#define USER     "bounces"
#define PASSWORD "s3cret-Pa55"

/* ---- The scripted server ------------------------------------------------------------------- */

enum server_mode { SERVE_NORMAL, SERVE_NO_UIDVALIDITY, SERVE_BAD_SEARCH, SERVE_SILENT };

struct server {
	enum server_mode mode;
	const char *mailbox; /* name SELECT must carry (modified UTF-7) */
	uint32_t uidvalidity;
	uint32_t uids[4];
	size_t n;
	pid_t pid;
	int port;
};

/* Message bytes per UID: CRLF, 8-bit text, a line that looks like an IMAP response. */
static void message_for(uint32_t uid, char *out, size_t size)
{
	snprintf(out, size,
	         "From: MAILER-DAEMON@esp.example\r\nSubject: report %u\r\n\r\n"
	         "caf\xc3\xa9 \xff\r\n* %u FETCH (UID 99)\r\nA005 OK fake\r\n",
	         uid, uid);
}

static const char plain_b64[] = "AGJvdW5jZXMAczNjcmV0LVBhNTU="; /* \0bounces\0s3cret-Pa55 */

static void say(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			_exit(0);
		s += w;
		n -= (size_t)w;
	}
}

static bool read_line(int fd, char *line, size_t size)
{
	size_t n = 0;
	char c;
	while (n + 1 < size && read(fd, &c, 1) == 1) {
		if (c == '\n') {
			if (n && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			return true;
		}
		line[n++] = c;
	}
	return false;
}

static void serve_session(const struct server *s, int fd)
{
	char line[1024], out[2048], msg[512], tag[32], mailbox[256];
	bool authed = false;

	say(fd, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] scripted server ready\r\n");
	if (s->mode == SERVE_SILENT) {
		while (read_line(fd, line, sizeof line))
			; /* never answers */
		return;
	}
	while (read_line(fd, line, sizeof line)) {
		char *cmd = strchr(line, ' ');
		if (!cmd || (size_t)(cmd - line) >= sizeof tag)
			return;
		memcpy(tag, line, (size_t)(cmd - line));
		tag[cmd - line] = '\0';
		cmd++;
		if (strcasecmp(cmd, "CAPABILITY") == 0) {
			snprintf(out, sizeof out,
			         "* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR\r\n%s OK done\r\n",
			         tag);
		} else if (strncasecmp(cmd, "AUTHENTICATE PLAIN", 18) == 0) {
			const char *resp = cmd[18] == ' ' ? cmd + 19 : NULL;
			if (!resp) {
				say(fd, "+ \r\n");
				if (!read_line(fd, msg, sizeof msg))
					return;
				resp = msg;
			}
			authed = strcmp(resp, plain_b64) == 0;
			snprintf(out, sizeof out, "%s %s\r\n", tag,
			         authed ? "OK Logged in" : "NO [AUTHENTICATIONFAILED] failed");
		} else if (strncasecmp(cmd, "SELECT ", 7) == 0 && authed) {
			const char *m = cmd + 7;
			size_t n = strlen(m);
			if (n >= 2 && m[0] == '"' && m[n - 1] == '"')
				m++, n -= 2;
			snprintf(mailbox, sizeof mailbox, "%.*s", (int)n, m);
			if (strcmp(mailbox, s->mailbox) != 0)
				snprintf(out, sizeof out, "%s NO Mailbox doesn't exist: %s\r\n",
				         tag, mailbox);
			else if (s->mode == SERVE_NO_UIDVALIDITY)
				snprintf(out, sizeof out, "* %zu EXISTS\r\n%s OK selected\r\n",
				         s->n, tag);
			else
				snprintf(
				    out, sizeof out,
				    "* %zu EXISTS\r\n* OK [UIDVALIDITY %u] UIDs valid\r\n"
				    "* OK [UIDNEXT %u] next\r\n%s OK [READ-WRITE] selected\r\n",
				    s->n, s->uidvalidity, s->n ? s->uids[s->n - 1] + 1 : 1, tag);
		} else if (strncasecmp(cmd, "UID SEARCH UID ", 15) == 0) {
			unsigned long from = strtoul(cmd + 15, NULL, 10);
			size_t k = (size_t)snprintf(out, sizeof out, "* SEARCH");
			bool any = false;
			if (s->mode == SERVE_BAD_SEARCH)
				k += (size_t)snprintf(out + k, sizeof out - k, " 1 two");
			for (size_t i = 0; i < s->n; i++)
				if (s->uids[i] >= from) {
					k += (size_t)snprintf(out + k, sizeof out - k, " %u",
					                      s->uids[i]);
					any = true;
				}
			/* like Dovecot: n:* always includes the highest UID */
			if (!any && s->n)
				k += (size_t)snprintf(out + k, sizeof out - k, " %u",
				                      s->uids[s->n - 1]);
			snprintf(out + k, sizeof out - k, "\r\n%s OK searched\r\n", tag);
		} else if (strncasecmp(cmd, "UID FETCH ", 10) == 0) {
			unsigned long uid = strtoul(cmd + 10, NULL, 10);
			size_t i;
			for (i = 0; i < s->n && s->uids[i] != uid; i++)
				;
			if (i == s->n) {
				snprintf(out, sizeof out, "%s OK nothing\r\n", tag);
			} else {
				message_for((uint32_t)uid, msg, sizeof msg);
				snprintf(
				    out, sizeof out,
				    "* %zu FETCH (UID %lu BODY[] {%zu}\r\n%s)\r\n%s OK fetched\r\n",
				    i + 1, uid, strlen(msg), msg, tag);
			}
		} else if (strcasecmp(cmd, "LOGOUT") == 0) {
			snprintf(out, sizeof out, "* BYE\r\n%s OK bye\r\n", tag);
			say(fd, out);
			return;
		} else {
			snprintf(out, sizeof out, "%s BAD unexpected\r\n", tag);
		}
		say(fd, out);
	}
}

/* Forks a server in its own process group; one child per connection (curl opens a fresh
 * session per pass while the previous one is still cached). */
static void server_start(struct server *s)
{
	struct sockaddr_in a = {0};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		setpgid(0, 0);
		signal(SIGCHLD, SIG_IGN);
		alarm(30); /* never outlive a stuck test */
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				continue;
			if (fork() == 0) {
				struct timeval tv = {10, 0};
				close(fd);
				setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
				serve_session(s, c);
				_exit(0);
			}
			close(c);
		}
	}
	setpgid(s->pid, s->pid);
	close(fd);
}

static void server_stop(struct server *s)
{
	if (s->pid > 0) {
		kill(-s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
}

/* ---- Tests ----------------------------------------------------------------------------------- */

struct seen {
	uint32_t uids[8];
	size_t n;
	uint32_t stop_at;
	int stop_rc;
};

static int on_message(void *ctx, uint32_t uid, const char *data, size_t len)
{
	struct seen *seen = ctx;
	char want[512];

	message_for(uid, want, sizeof want);
	if (len != strlen(want) || memcmp(data, want, len) != 0)
		fail_msg("uid %u: message bytes differ (got %zu bytes, want %zu)", uid, len,
		         strlen(want));
	if (uid == seen->stop_at)
		return seen->stop_rc;
	if (seen->n < N(seen->uids))
		seen->uids[seen->n++] = uid;
	return 0;
}

static struct mb_imap *open_at(const struct server *s, const char *mailbox, const char *password,
                               long timeout)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_imap *imap;
	char url[256];
	snprintf(url, sizeof url, "imap://127.0.0.1:%d/%s", s->port, mailbox);
	if (mb_imap_open(&imap, url, USER, password, timeout, &err))
		fail_msg("mb_imap_open: %s", err.message);
	return imap;
}

static void want_error(int rc, const struct mb_err *err, int code, const char *fragment)
{
	if (rc != code || !strstr(err->message, fragment))
		fail_msg("got %d \"%s\", want %d with \"%s\"", rc, err->message, code, fragment);
	if (strstr(err->message, PASSWORD))
		fail_msg("the password appears in \"%s\"", err->message);
}

static void test_fetch_new(void **state)
{
	struct server s = {SERVE_NORMAL, "INBOX", 42, {3, 5, 9}, 3, 0, 0};
	struct mb_err err = MB_ERR_INIT;
	struct seen seen = {0};
	uint32_t validity = 0, last = 0;
	struct mb_imap *imap;
	(void)state;

	server_start(&s);
	imap = open_at(&s, "INBOX", PASSWORD, 5);
	assert_int_equal(mb_imap_fetch_new(imap, &validity, &last, on_message, &seen, &err), 0);
	assert_int_equal(validity, 42);
	assert_int_equal(last, 9);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.uids[0], 3);
	assert_int_equal(seen.uids[1], 5);
	assert_int_equal(seen.uids[2], 9);

	/* nothing new: the server still answers 10:* with UID 9, which is filtered out */
	seen.n = 0;
	assert_int_equal(mb_imap_fetch_new(imap, &validity, &last, on_message, &seen, &err), 0);
	assert_int_equal(seen.n, 0);
	assert_int_equal(last, 9);

	/* from a remembered position */
	last = 4;
	assert_int_equal(mb_imap_fetch_new(imap, &validity, &last, on_message, &seen, &err), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.uids[0], 5);
	assert_int_equal(last, 9);
	mb_imap_close(imap);
	server_stop(&s);
}

/* A mailbox recreated since the last pass (other UIDVALIDITY) is read from its start. */
static void test_uidvalidity_reset(void **state)
{
	struct server s = {SERVE_NORMAL, "INBOX", 77, {1, 2}, 2, 0, 0};
	struct mb_err err = MB_ERR_INIT;
	struct seen seen = {0};
	uint32_t validity = 42, last = 9;
	struct mb_imap *imap;
	(void)state;

	server_start(&s);
	imap = open_at(&s, "INBOX", PASSWORD, 5);
	assert_int_equal(mb_imap_fetch_new(imap, &validity, &last, on_message, &seen, &err), 0);
	assert_int_equal(validity, 77);
	assert_int_equal(last, 2);
	assert_int_equal(seen.n, 2);
	mb_imap_close(imap);
	server_stop(&s);
}

/* A callback error stops the pass; the position stays before the message it refused. */
static void test_callback_stops(void **state)
{
	struct server s = {SERVE_NORMAL, "INBOX", 42, {3, 5, 9}, 3, 0, 0};
	struct mb_err err = MB_ERR_INIT;
	struct seen seen = {.stop_at = 5, .stop_rc = -99};
	uint32_t validity = 0, last = 0;
	struct mb_imap *imap;
	(void)state;

	server_start(&s);
	imap = open_at(&s, "INBOX", PASSWORD, 5);
	assert_int_equal(mb_imap_fetch_new(imap, &validity, &last, on_message, &seen, &err), -99);
	assert_int_equal(last, 3);
	mb_imap_close(imap);
	server_stop(&s);
}

/* Mailbox names go out in modified UTF-7, whatever the URL's encoding. */
static void test_mailbox_name(void **state)
{
	static const char *const spellings[] = {"Bounces%20%C3%9C%20%26%20co",
	                                        "Bounces \xc3\x9c & co"};
	struct server s = {SERVE_NORMAL, "Bounces &ANw- &- co", 5, {1}, 1, 0, 0};
	(void)state;

	server_start(&s);
	for (size_t i = 0; i < N(spellings); i++) {
		struct mb_err err = MB_ERR_INIT;
		struct seen seen = {0};
		uint32_t validity = 0, last = 0;
		struct mb_imap *imap = open_at(&s, spellings[i], PASSWORD, 5);
		int rc = mb_imap_fetch_new(imap, &validity, &last, on_message, &seen, &err);
		if (rc)
			fail_msg("%s: %s", spellings[i], err.message);
		assert_int_equal(seen.n, 1);
		mb_imap_close(imap);
	}
	server_stop(&s);
}

static void test_errors(void **state)
{
	struct server s = {SERVE_NORMAL, "INBOX", 42, {3}, 1, 0, 0};
	struct mb_err err = MB_ERR_INIT;
	uint32_t validity = 0, last = 0;
	struct seen seen = {0};
	struct mb_imap *imap;
	int rc;
	(void)state;

	server_start(&s);
	imap = open_at(&s, "INBOX", "wrong-" PASSWORD, 5);
	rc = mb_imap_fetch_new(imap, &validity, &last, on_message, &seen, &err);
	want_error(rc, &err, MB_ECONFIG, "login refused for user " USER);
	assert_int_equal(last, 0);
	mb_imap_close(imap);

	imap = open_at(&s, "Missing", PASSWORD, 5);
	rc = mb_imap_fetch_new(imap, &validity, &last, on_message, &seen, &err);
	want_error(rc, &err, MB_ECONFIG, "cannot be selected");
	mb_imap_close(imap);
	server_stop(&s);

	/* nothing listens on the port any more */
	imap = open_at(&s, "INBOX", PASSWORD, 5);
	rc = mb_imap_fetch_new(imap, &validity, &last, on_message, &seen, &err);
	want_error(rc, &err, MB_EUNAVAIL, "cannot connect");
	assert_non_null(strstr(err.message, "imap://127.0.0.1:"));
	mb_imap_close(imap);
}

static void test_protocol_errors(void **state)
{
	static const enum server_mode modes[] = {SERVE_NO_UIDVALIDITY, SERVE_BAD_SEARCH};
	(void)state;
	for (size_t i = 0; i < N(modes); i++) {
		struct server s = {modes[i], "INBOX", 42, {3}, 1, 0, 0};
		struct mb_err err = MB_ERR_INIT;
		uint32_t validity = 0, last = 0;
		struct seen seen = {0};
		struct mb_imap *imap;
		int rc;

		server_start(&s);
		imap = open_at(&s, "INBOX", PASSWORD, 5);
		rc = mb_imap_fetch_new(imap, &validity, &last, on_message, &seen, &err);
		want_error(rc, &err, MB_EPROTO, "imap://");
		assert_int_equal(seen.n, 0);
		mb_imap_close(imap);
		server_stop(&s);
	}
}

/* A server that greets and then says nothing: the response timeout ends the wait. */
static void test_silent_server(void **state)
{
	struct server s = {SERVE_SILENT, "INBOX", 42, {3}, 1, 0, 0};
	struct mb_err err = MB_ERR_INIT;
	uint32_t validity = 0, last = 0;
	struct seen seen = {0};
	struct mb_imap *imap;
	int rc;
	(void)state;

	server_start(&s);
	imap = open_at(&s, "INBOX", PASSWORD, 1);
	rc = mb_imap_fetch_new(imap, &validity, &last, on_message, &seen, &err);
	want_error(rc, &err, MB_EUNAVAIL, "imap://");
	mb_imap_close(imap);
	server_stop(&s);
}

static void test_open_checks(void **state)
{
	static const struct {
		const char *url;
		const char *fragment;
	} bad[] = {
	    {"http://127.0.0.1/INBOX", "imap://"},
	    {"imap://" USER ":" PASSWORD "@127.0.0.1/INBOX", "credentials"},
	    {"imap:///INBOX", "no host"},
	    {"imap://host name/INBOX", "invalid host"},
	    {"imap://127.0.0.1/\xff\xfe", "UTF-8"},
	};
	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		struct mb_err err = MB_ERR_INIT;
		struct mb_imap *imap = (struct mb_imap *)&err;
		int rc = mb_imap_open(&imap, bad[i].url, USER, PASSWORD, 5, &err);
		want_error(rc, &err, MB_ECONFIG, bad[i].fragment);
		assert_null(imap);
	}
	mb_imap_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fetch_new),      cmocka_unit_test(test_uidvalidity_reset),
	    cmocka_unit_test(test_callback_stops), cmocka_unit_test(test_mailbox_name),
	    cmocka_unit_test(test_errors),         cmocka_unit_test(test_protocol_errors),
	    cmocka_unit_test(test_silent_server),  cmocka_unit_test(test_open_checks),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
