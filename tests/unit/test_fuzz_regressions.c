/* Replays every input the fuzz targets once crashed on (files in tests/fuzz/regressions/TARGET/)
 * through the same target code and its checks, each in a child process, so a fixed parser bug
 * stays fixed. Leaks and memory errors show in the sanitizer build; broken promises abort in
 * any build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mailbisect/buf.h"
#include "mailbisect/file.h"
#include "mailbisect/limits.h"
#include "fuzz_targets.h"

#define REGRESSIONS MB_SOURCE_DIR "/tests/fuzz/regressions/"

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs fn on the file's bytes in a child process, so that one input that aborts (or leaks,
 * under LeakSanitizer, which checks at exit) does not hide the others. True when it passed. */
static bool replay_one(const char *path, int (*fn)(const uint8_t *, size_t))
{
	struct mb_buf buf = MB_BUF_INIT;
	struct mb_err err = MB_ERR_INIT;
	int status = 0;
	pid_t pid;

	if (mb_file_read(path, MB_MAX_MESSAGE_BYTES, &buf, &err))
		fail_msg("%s: %s", path, err.message);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		int rc = fn((const uint8_t *)buf.data, buf.len);
		mb_buf_free(&buf);
		exit(rc == 0 ? 0 : 1);
	}
	mb_buf_free(&buf);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	if (WIFSIGNALED(status))
		print_error("%s: got signal %d, want a clean return\n", path, WTERMSIG(status));
	else
		print_error("%s: got exit status %d, want 0\n", path, WEXITSTATUS(status));
	return false;
}

/* Feeds each file of regressions/<target>/ (in name order) to fn; a missing folder is no
 * regression yet. */
static void replay(const char *target, int (*fn)(const uint8_t *, size_t))
{
	char dir[512], path[1024];
	char *names[1000];
	size_t n = 0, failed = 0;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof dir, "%s%s", REGRESSIONS, target);
	if (!(d = opendir(dir)))
		return;
	while ((e = readdir(d)) && n < sizeof names / sizeof names[0])
		if (e->d_name[0] != '.')
			assert_non_null(names[n++] = strdup(e->d_name));
	closedir(d);
	qsort(names, n, sizeof names[0], compare_names);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		print_message("replaying %s/%s\n", target, names[i]);
		failed += !replay_one(path, fn);
		free(names[i]);
	}
	if (failed)
		fail_msg("%zu of %zu %s regression inputs failed", failed, n, target);
}

static void test_bounce(void **state)
{
	(void)state;
	replay("bounce", mb_fuzz_bounce);
}

static void test_spec(void **state)
{
	(void)state;
	replay("spec", mb_fuzz_spec);
}

static void test_message(void **state)
{
	(void)state;
	replay("message", mb_fuzz_message);
}

static void test_rules(void **state)
{
	(void)state;
	replay("rules", mb_fuzz_rules);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bounce),
	    cmocka_unit_test(test_spec),
	    cmocka_unit_test(test_message),
	    cmocka_unit_test(test_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
