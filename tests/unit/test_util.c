/* Unit tests of the util layer: capped buffers, checked numbers, printable copies of hostile
 * text, address checks, the error-class to sysexits table, files that are not regular files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "mailbisect/buf.h"
#include "mailbisect/err.h"
#include "mailbisect/file.h"
#include "mailbisect/str.h"

static void test_buf_cap(void **state)
{
	struct mb_buf b = MB_BUF_INIT;
	(void)state;
	b.cap = 8;
	assert_int_equal(mb_buf_puts(&b, "12345678"), 0);
	assert_int_equal(mb_buf_puts(&b, "9"), MB_ENOMEM);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "12345678");
	mb_buf_free(&b);
}

static void test_buf_printf(void **state)
{
	struct mb_buf b = MB_BUF_INIT;
	(void)state;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(mb_buf_printf(&b, "%d,", i), 0);
	assert_true(strncmp(b.data, "0,1,2,", 6) == 0);
	assert_int_equal(b.len, strlen(b.data));
	mb_buf_free(&b);
}

static void test_to_long(void **state)
{
	static const struct {
		const char *in;
		long min, max;
		int rc;
		long want;
	} cases[] = {
	    {"25", 1, 65535, 0, 25},    {"0", 1, 65535, -1, 0},
	    {"65536", 1, 65535, -1, 0}, {"12x", 0, 100, -1, 0},
	    {"", 0, 100, -1, 0},        {" 5", 0, 100, -1, 0},
	    {"-3", -10, 10, 0, -3},     {"99999999999999999999", 0, 100, -1, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		long v = 0;
		int rc = mb_str_to_long(cases[i].in, cases[i].min, cases[i].max, &v);
		if (rc != cases[i].rc || (rc == 0 && v != cases[i].want))
			fail_msg(
			    "mb_str_to_long(\"%s\"): got rc %d value %ld, want rc %d value %ld",
			    cases[i].in, rc, v, cases[i].rc, cases[i].want);
	}
}

static void test_printable(void **state)
{
	static const struct {
		const char *in;
		int keep;
		const char *want;
	} cases[] = {
	    {"550 5.7.1 ok", 0, "550 5.7.1 ok"},
	    {"a\r\nb", 0, "a b"},
	    {"a\r\nb", 1, "a\nb"},
	    {"bell\a", 0, "bell\\x07"},
	    {"esc\x1b[31m", 0, "esc\\x1B[31m"},
	    {"caf\xc3\xa9", 0, "caf\xc3\xa9"},
	    {"bad\xff", 0, "bad\\xFF"},
	    {"c1\xc2\x85", 0, "c1\\xC2\\x85"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_buf b = MB_BUF_INIT;
		assert_int_equal(
		    mb_str_printable(&b, cases[i].in, strlen(cases[i].in), cases[i].keep), 0);
		if (strcmp(b.data, cases[i].want) != 0)
			fail_msg("printable(case %zu): got \"%s\", want \"%s\"", i, b.data,
			         cases[i].want);
		mb_buf_free(&b);
	}
}

static void test_addresses(void **state)
{
	(void)state;
	assert_true(mb_addr_in_domain("alice@victim.example", "victim.example"));
	assert_true(mb_addr_in_domain("alice@VICTIM.example", "victim.example"));
	assert_false(mb_addr_in_domain("alice@victim.example.evil", "victim.example"));
	assert_false(mb_addr_in_domain("alice@sub.victim.example", "victim.example"));
	assert_false(mb_addr_in_domain("victim.example", "victim.example"));
	assert_true(mb_addr_valid("bounces+{send}@bounces.sender.example"));
	assert_false(mb_addr_valid("a b@x.example"));
	assert_false(mb_addr_valid("@x.example"));
	assert_false(mb_addr_valid("a@x"));
	assert_false(mb_addr_valid("a@x.example, b@y.example"));
}

static void test_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(mb_err_exit_code(MB_OK), 0);
	assert_int_equal(mb_err_exit_code(MB_EUSAGE), EX_USAGE);
	assert_int_equal(mb_err_exit_code(MB_EDATA), EX_DATAERR);
	assert_int_equal(mb_err_exit_code(MB_ENOINPUT), EX_NOINPUT);
	assert_int_equal(mb_err_exit_code(MB_ECONFIG), EX_CONFIG);
	assert_int_equal(mb_err_exit_code(MB_EUNAVAIL), EX_UNAVAILABLE);
	assert_int_equal(mb_err_exit_code(MB_ETEMP), EX_TEMPFAIL);
	assert_int_equal(mb_err_exit_code(MB_EPROTO), EX_PROTOCOL);
	assert_int_equal(mb_err_exit_code(MB_ENOPERM), EX_NOPERM);
}

/* A FIFO without a writer must be refused at once: a blocking open() would wait forever, so
 * the alarm turns a regression into a failure instead of a hung test. */
static void test_read_not_regular(void **state)
{
	static const struct {
		const char *path;
		const char *want;
	} cases[] = {
	    {"fifo", "is a FIFO"},
	    {"dir", "is a directory"},
	    {"/dev/null", "is a device"},
	};
	char dir[] = "/tmp/mb-util-XXXXXX", path[256];
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(path, sizeof path, "%s/dir", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	alarm(10);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_buf b = MB_BUF_INIT;
		struct mb_err err = MB_ERR_INIT;
		int rc;
		if (cases[i].path[0] == '/')
			snprintf(path, sizeof path, "%s", cases[i].path);
		else
			snprintf(path, sizeof path, "%s/%s", dir, cases[i].path);
		rc = mb_file_read(path, 1024, &b, &err);
		if (rc != MB_ENOINPUT || !strstr(err.message, cases[i].want))
			fail_msg("mb_file_read(%s): got %d \"%s\", want %d \"...%s...\"", path, rc,
			         err.message, MB_ENOINPUT, cases[i].want);
		mb_buf_free(&b);
	}
	alarm(0);
	/* a regular file still reads, and its descriptor is blocking again (a full read) */
	snprintf(path, sizeof path, "%s/file", dir);
	{
		FILE *f = fopen(path, "w");
		struct mb_buf b = MB_BUF_INIT;
		struct mb_err err = MB_ERR_INIT;
		assert_non_null(f);
		fputs("hello\n", f);
		fclose(f);
		assert_int_equal(mb_file_read(path, 1024, &b, &err), 0);
		assert_string_equal(b.data, "hello\n");
		mb_buf_free(&b);
		/* over the limit: refused, and the buffer is as it was (nothing to free when it
		 * held nothing, its text kept when it held some) */
		assert_int_equal(mb_file_read(path, 5, &b, &err), MB_EDATA);
		assert_non_null(strstr(err.message, "larger than the limit of 5 bytes"));
		assert_null(b.data);
		assert_int_equal(mb_buf_puts(&b, "kept"), 0);
		assert_int_equal(mb_file_read(path, 5, &b, &err), MB_EDATA);
		assert_string_equal(b.data, "kept");
		assert_int_equal(b.len, 4);
		mb_buf_free(&b);
		unlink(path);
	}
	snprintf(path, sizeof path, "%s/fifo", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/dir", dir);
	rmdir(path);
	rmdir(dir);
}

/* An empty path used to make mb_file_mkdirs read past the end of its copy. */
static void test_mkdirs(void **state)
{
	struct mb_err err = MB_ERR_INIT;
	char dir[] = "/tmp/mb-util-XXXXXX", path[256];
	struct stat st;
	(void)state;

	assert_int_equal(mb_file_mkdirs("", &err), MB_EIO);
	assert_non_null(strstr(err.message, "empty"));
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/a/b/c", dir);
	assert_int_equal(mb_file_mkdirs(path, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(mb_file_mkdirs(path, &err), 0); /* already there */
	rmdir(path);
	snprintf(path, sizeof path, "%s/a/b", dir);
	rmdir(path);
	snprintf(path, sizeof path, "%s/a", dir);
	rmdir(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf_cap),          cmocka_unit_test(test_buf_printf),
	    cmocka_unit_test(test_to_long),          cmocka_unit_test(test_printable),
	    cmocka_unit_test(test_addresses),        cmocka_unit_test(test_exit_codes),
	    cmocka_unit_test(test_read_not_regular), cmocka_unit_test(test_mkdirs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
