/* Unit tests of the mail file reader: mbox splitting with LF, CRLF and CR line ends, From_
 * escaping, Maildir and plain folders, standard input, empty, oversize and unreadable files.
 * Every fixture is written at run time into a temporary directory. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailbisect/buf.h"
#include "mailbisect/limits.h"
#include "mailbisect/mailfile.h"

/* What one call of mb_mailfile_next gave. */
struct got {
	int rc;
	char file[512];
	size_t number;
	bool in_mbox;
	struct mb_buf data;
	char error[1024];
};

struct fixture {
	char dir[64];
	struct got got[64];
	size_t n;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	if (!fx)
		return -1;
	strcpy(fx->dir, "/tmp/mb-mailfile-XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	for (size_t i = 0; i < sizeof fx->got / sizeof fx->got[0]; i++)
		mb_buf_free(&fx->got[i].data);
	if (nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "could not remove %s\n", fx->dir);
	free(fx);
	return 0;
}

static void path_in(const struct fixture *fx, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", fx->dir, name);
}

static void write_bytes(const struct fixture *fx, const char *name, const char *data, size_t len)
{
	char path[512];
	FILE *f;
	path_in(fx, name, path, sizeof path);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void make_dir(const struct fixture *fx, const char *name)
{
	char path[512];
	path_in(fx, name, path, sizeof path);
	assert_int_equal(mkdir(path, 0700), 0);
}

/* Replaces every "\n" of text by eol (LF, CRLF or CR). Caller frees. */
static char *with_eol(const char *text, const char *eol, size_t *len)
{
	struct mb_buf b = MB_BUF_INIT;
	for (const char *p = text; *p; p++)
		assert_int_equal(*p == '\n' ? mb_buf_puts(&b, eol) : mb_buf_putc(&b, *p), 0);
	assert_int_equal(mb_buf_terminate(&b), 0);
	*len = b.len;
	return mb_buf_steal(&b);
}

/* Reads every message of path (relative to the fixture directory, or "-"). */
static void read_all(struct fixture *fx, const char *name, size_t max_bytes)
{
	struct mb_mailfile_opts opts = MB_MAILFILE_OPTS_INIT;
	struct mb_mailfile *mf = NULL;
	struct mb_err err = MB_ERR_INIT;
	char path[512];
	int rc;

	if (strcmp(name, "-") == 0)
		strcpy(path, "-");
	else
		path_in(fx, name, path, sizeof path);
	opts.max_message_bytes = max_bytes;
	rc = mb_mailfile_open(&mf, path, &opts, &err);
	if (rc)
		fail_msg("mb_mailfile_open(%s): got %d (%s), want 0", path, rc, err.message);
	for (;;) {
		struct mb_mailfile_message msg;
		struct got *g = &fx->got[fx->n];
		rc = mb_mailfile_next(mf, &msg, &err);
		if (rc == 0)
			break;
		assert_true(fx->n < sizeof fx->got / sizeof fx->got[0]);
		fx->n++;
		mb_buf_reset(&g->data);
		g->error[0] = '\0';
		g->rc = rc;
		snprintf(g->file, sizeof g->file, "%s",
		         msg.file && !strncmp(msg.file, fx->dir, strlen(fx->dir))
		             ? msg.file + strlen(fx->dir) + 1
		             : (msg.file ? msg.file : "(null)"));
		g->number = msg.number;
		g->in_mbox = msg.in_mbox;
		if (rc == 1) {
			assert_non_null(msg.data);
			assert_int_equal(msg.data[msg.len], '\0');
			assert_int_equal(mb_buf_append(&g->data, msg.data, msg.len), 0);
			assert_int_equal(mb_buf_terminate(&g->data), 0);
		} else {
			snprintf(g->error, sizeof g->error, "%s", err.message);
		}
	}
	mb_mailfile_close(mf);
}

static void expect_message(const struct fixture *fx, size_t i, const char *file, size_t number,
                           const char *data, size_t len)
{
	const struct got *g = &fx->got[i];
	if (i >= fx->n)
		fail_msg("message %zu: got only %zu results", i, fx->n);
	if (g->rc != 1)
		fail_msg("message %zu: got rc %d (%s), want a message", i, g->rc, g->error);
	if (strcmp(g->file, file) != 0 || g->number != number)
		fail_msg("message %zu: got %s#%zu, want %s#%zu", i, g->file, g->number, file,
		         number);
	if (g->data.len != len || memcmp(g->data.data, data, len) != 0)
		fail_msg(
		    "message %zu (%s#%zu): got %zu bytes \"%.200s\", want %zu bytes \"%.200s\"", i,
		    file, number, g->data.len, g->data.data, len, data);
}

static void expect_error(const struct fixture *fx, size_t i, int rc, const char *fragment)
{
	const struct got *g = &fx->got[i];
	if (i >= fx->n)
		fail_msg("result %zu: got only %zu results", i, fx->n);
	if (g->rc != rc || !strstr(g->error, fragment))
		fail_msg("result %zu: got rc %d \"%s\", want rc %d with \"%s\"", i, g->rc, g->error,
		         rc, fragment);
}

/* Three messages: From_ escaping, an unescaped "From " line in a body that must not split,
 * and a separator without a blank line before it. */
static const char mbox_text[] =
    "From MAILER-DAEMON  Fri Dec  4 07:04:23 2026\n"
    "From: MAILER-DAEMON@esp.example\n"
    "Subject: one\n"
    "\n"
    ">From the desk of the postmaster\n"
    ">>From quoted twice\n"
    "From here on, an unescaped line (no time of day, no blank line before)\n"
    "\n"
    "From MAILER-DAEMON Fri Dec  4 07:05:00 2026\n"
    "Subject: two\n"
    "\n"
    "body two\n"
    "From someone@example.com Fri Dec  4 08:00:00 2026\n"
    "Subject: three\n"
    "\n"
    "last line without a line end";

static const char *const mbox_messages[] = {
    "From: MAILER-DAEMON@esp.example\n"
    "Subject: one\n"
    "\n"
    "From the desk of the postmaster\n"
    ">From quoted twice\n"
    "From here on, an unescaped line (no time of day, no blank line before)\n",
    "Subject: two\n"
    "\n"
    "body two\n",
    "Subject: three\n"
    "\n"
    "last line without a line end",
};

static void test_mbox_line_ends(void **state)
{
	static const char *const eols[] = {"\n", "\r\n", "\r"};
	struct fixture *fx = *state;

	for (size_t e = 0; e < 3; e++) {
		char name[32];
		size_t len;
		char *text = with_eol(mbox_text, eols[e], &len);
		snprintf(name, sizeof name, "box%zu.mbox", e);
		write_bytes(fx, name, text, len);
		free(text);
		fx->n = 0;
		read_all(fx, name, 0);
		assert_int_equal(fx->n, 3);
		for (size_t i = 0; i < 3; i++) {
			char *want = with_eol(mbox_messages[i], eols[e], &len);
			expect_message(fx, i, name, i + 1, want, len);
			assert_true(fx->got[i].in_mbox);
			free(want);
			mb_buf_free(&fx->got[i].data);
		}
	}
}

/* Messages of every length around the read and line limits come back byte for byte, so no
 * CRLF is cut in two and no long line loses a piece. */
static void test_mbox_boundaries(void **state)
{
	static const char *const eols[] = {"\n", "\r\n", "\r"};
	struct fixture *fx = *state;
	struct mb_buf box = MB_BUF_INIT;
	struct mb_buf want[12];
	size_t n = sizeof want / sizeof want[0];
	uint32_t seed = 12345;

	for (size_t m = 0; m < n; m++) {
		const char *eol = eols[m % 3];
		struct mb_buf *w = &want[m];
		memset(w, 0, sizeof *w);
		assert_int_equal(mb_buf_printf(&box,
		                               "From x@example.com Fri Dec  4 07:0%zu:00 2026%s",
		                               m % 10, eol),
		                 0);
		assert_int_equal(mb_buf_printf(w, "Subject: %zu%s%s", m, eol, eol), 0);
		/* one line longer than the line limit, with "From " where a piece would start */
		if (m == 4) {
			for (size_t k = 0; k < MB_MAX_LINE_BYTES; k++)
				assert_int_equal(mb_buf_putc(w, 'x'), 0);
			assert_int_equal(mb_buf_printf(w, "From 12:00 here%s", eol), 0);
		}
		for (size_t line = 0; line < 400 + m * 97; line++) {
			size_t width;
			seed = seed * 1103515245u + 12345u;
			width = (seed >> 16) % 300;
			for (size_t k = 0; k < width; k++)
				assert_int_equal(mb_buf_putc(w, (char)('a' + (k + line) % 26)), 0);
			assert_int_equal(mb_buf_puts(w, eol), 0);
		}
		assert_int_equal(mb_buf_append(&box, w->data, w->len), 0);
		assert_int_equal(mb_buf_puts(&box, eol), 0); /* the separating empty line */
	}
	write_bytes(fx, "big.mbox", box.data, box.len);
	mb_buf_free(&box);
	read_all(fx, "big.mbox", 0);
	assert_int_equal(fx->n, n);
	for (size_t m = 0; m < n; m++) {
		expect_message(fx, m, "big.mbox", m + 1, want[m].data, want[m].len);
		mb_buf_free(&want[m]);
	}
}

static void test_maildir(void **state)
{
	struct fixture *fx = *state;
	static const char a[] = "Subject: a\n\ncur first\n",
	                  b[] = "Subject: b\r\n\r\ncur second\r\n", c[] = "Subject: c\n\nnew\n";

	make_dir(fx, "Maildir");
	make_dir(fx, "Maildir/cur");
	make_dir(fx, "Maildir/new");
	make_dir(fx, "Maildir/tmp");
	make_dir(fx, "Maildir/.Sent"); /* a Maildir++ subfolder: not read */
	write_bytes(fx, "Maildir/cur/1701633600.M1P1.host:2,S", a, strlen(a));
	write_bytes(fx, "Maildir/cur/1701633601.M2P1.host:2,", b, strlen(b));
	write_bytes(fx, "Maildir/new/1701633700.M3P1.host", c, strlen(c));
	write_bytes(fx, "Maildir/tmp/1701633800.M4P1.host", "partial", 7);
	write_bytes(fx, "Maildir/cur/.hidden", "x", 1);
	read_all(fx, "Maildir/", 0);
	assert_int_equal(fx->n, 3);
	expect_message(fx, 0, "Maildir/cur/1701633600.M1P1.host:2,S", 1, a, strlen(a));
	expect_message(fx, 1, "Maildir/cur/1701633601.M2P1.host:2,", 1, b, strlen(b));
	expect_message(fx, 2, "Maildir/new/1701633700.M3P1.host", 1, c, strlen(c));
	assert_false(fx->got[0].in_mbox);
}

/* A plain folder: each file is a message or an mbox; errors are per file and the rest is
 * still read. */
static void test_plain_folder_errors(void **state)
{
	struct fixture *fx = *state;
	static const char one[] = "Subject: one\n\nbody\n";
	static const char box[] =
	    "From a@example.com Fri Dec  4 07:04:23 2026\nSubject: m1\n\nx\n\n"
	    "From a@example.com Fri Dec  4 07:04:24 2026\nSubject: m2\n\ny\n";
	char target[512], link[512];

	make_dir(fx, "folder");
	make_dir(fx, "folder/sub");
	write_bytes(fx, "folder/a.eml", one, strlen(one));
	write_bytes(fx, "folder/b.mbox", box, strlen(box));
	write_bytes(fx, "folder/c-empty.eml", "", 0);
	path_in(fx, "folder/absent.eml", target, sizeof target);
	path_in(fx, "folder/d-dangling.eml", link, sizeof link);
	assert_int_equal(symlink(target, link), 0);
	write_bytes(fx, "folder/e.eml", one, strlen(one));
	read_all(fx, "folder", 0);
	assert_int_equal(fx->n, 6);
	expect_message(fx, 0, "folder/a.eml", 1, one, strlen(one));
	expect_message(fx, 1, "folder/b.mbox", 1, "Subject: m1\n\nx\n", 15);
	expect_message(fx, 2, "folder/b.mbox", 2, "Subject: m2\n\ny\n", 15);
	expect_error(fx, 3, MB_EDATA, "c-empty.eml: empty file");
	expect_error(fx, 4, MB_ENOINPUT, "d-dangling.eml: cannot open");
	assert_string_equal(fx->got[4].file, "folder/d-dangling.eml");
	expect_message(fx, 5, "folder/e.eml", 1, one, strlen(one));
}

static void test_oversize(void **state)
{
	struct fixture *fx = *state;
	char big[300];
	struct mb_buf box = MB_BUF_INIT;

	memset(big, 'x', sizeof big);
	big[sizeof big - 1] = '\n';
	write_bytes(fx, "big.eml", big, sizeof big);
	read_all(fx, "big.eml", 100);
	assert_int_equal(fx->n, 1);
	expect_error(fx, 0, MB_EDATA, "big.eml: larger than the limit of 100 bytes");

	/* in an mbox only the big message is skipped */
	fx->n = 0;
	mb_buf_puts(&box, "From a@b.example Fri Dec  4 07:04:23 2026\nSubject: small\n\n");
	mb_buf_puts(&box, "From a@b.example Fri Dec  4 07:04:24 2026\nSubject: big\n\n");
	mb_buf_append(&box, big, sizeof big);
	assert_int_equal(mb_buf_puts(&box, "\nFrom a@b.example Fri Dec  4 07:04:25 2026\nS: 3\n"),
	                 0);
	write_bytes(fx, "over.mbox", box.data, box.len);
	mb_buf_free(&box);
	read_all(fx, "over.mbox", 100);
	assert_int_equal(fx->n, 3);
	expect_message(fx, 0, "over.mbox", 1, "Subject: small\n", 15);
	expect_error(fx, 1, MB_EDATA, "over.mbox#2: larger than the limit of 100 bytes");
	assert_int_equal(fx->got[1].number, 2);
	expect_message(fx, 2, "over.mbox", 3, "S: 3\n", 5);
}

static void test_missing_and_unreadable(void **state)
{
	struct fixture *fx = *state;
	struct mb_mailfile *mf = (struct mb_mailfile *)1;
	struct mb_err err = MB_ERR_INIT;
	char path[512];

	path_in(fx, "nothing-here.eml", path, sizeof path);
	assert_int_equal(mb_mailfile_open(&mf, path, NULL, &err), MB_ENOINPUT);
	assert_null(mf);
	assert_non_null(strstr(err.message, "nothing-here.eml: cannot open"));

	/* permissions do not stop root: only checked for other users */
	if (geteuid() != 0) {
		write_bytes(fx, "locked.eml", "Subject: x\n\n", 12);
		path_in(fx, "locked.eml", path, sizeof path);
		assert_int_equal(chmod(path, 0), 0);
		assert_int_equal(mb_mailfile_open(&mf, path, NULL, &err), MB_ENOINPUT);
		assert_non_null(strstr(err.message, "locked.eml: cannot open"));
	}
}

static void test_empty_folder_and_file(void **state)
{
	struct fixture *fx = *state;
	make_dir(fx, "nothing");
	read_all(fx, "nothing", 0);
	assert_int_equal(fx->n, 0);
	write_bytes(fx, "empty.eml", "", 0);
	read_all(fx, "empty.eml", 0);
	assert_int_equal(fx->n, 1);
	expect_error(fx, 0, MB_EDATA, "empty.eml: empty file");
}

/* "From:" and "From :" are header fields, not From_ lines: the file is one message. */
static void test_not_an_mbox(void **state)
{
	struct fixture *fx = *state;
	static const char a[] = "From: a@example.com\nSubject: x\n\nFrom 12:00 in the body\n";
	static const char b[] = "From : a@example.com\nSubject: y\n\n";
	write_bytes(fx, "a.eml", a, strlen(a));
	write_bytes(fx, "b.eml", b, strlen(b));
	read_all(fx, "a.eml", 0);
	read_all(fx, "b.eml", 0);
	assert_int_equal(fx->n, 2);
	expect_message(fx, 0, "a.eml", 1, a, strlen(a));
	expect_message(fx, 1, "b.eml", 1, b, strlen(b));
	assert_false(fx->got[0].in_mbox);
}

static void test_stdin(void **state)
{
	struct fixture *fx = *state;
	static const char box[] =
	    "From a@example.com Fri Dec  4 07:04:23 2026\r\nSubject: 1\r\n\r\n"
	    "From a@example.com Fri Dec  4 07:04:24 2026\r\nSubject: 2\r\n";
	char path[512];
	int saved = dup(STDIN_FILENO), fd;

	write_bytes(fx, "stdin.mbox", box, strlen(box));
	path_in(fx, "stdin.mbox", path, sizeof path);
	fd = open(path, O_RDONLY);
	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
	close(fd);
	read_all(fx, "-", 0);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	assert_int_equal(fx->n, 2);
	expect_message(fx, 0, "-", 1, "Subject: 1\r\n", 12);
	expect_message(fx, 1, "-", 2, "Subject: 2\r\n", 12);
	assert_true(fx->got[1].in_mbox);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mbox_line_ends, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mbox_boundaries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_maildir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plain_folder_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversize, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_and_unreadable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_folder_and_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_an_mbox, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stdin, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
