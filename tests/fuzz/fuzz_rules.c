/* libFuzzer target for the classification rules file loader (mb_rules_load_file, which reads
 * a path: the input goes through a memory file) and for classifying with the loaded set. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mailbisect/classify.h"
#include "fuzz_targets.h"

/* Replies the loaded rules are tried on, across stages, codes and formats. */
static const struct {
	enum mb_stage stage;
	int code;
	const char *enhanced, *provider, *text;
} samples[] = {
    {MB_STAGE_RCPT, 550, "5.7.1", NULL, "Service unavailable; client host blocked using zen"},
    {MB_STAGE_DATA, 554, NULL, "exchange", "5.7.1 message rejected as spam by content filter"},
    {MB_STAGE_UNKNOWN, 0, NULL, "gmail", "The email account that you tried to reach does not"},
    {MB_STAGE_MAIL, 421, "4.7.0", NULL, "Try again later, closing connection."},
    {MB_STAGE_DATA, 550, "5.7.26", NULL, "550-5.7.26 unauthenticated email\n550 5.7.26 DMARC"},
};

static void classify_samples(const struct mb_rules *rules)
{
	struct mb_classification cls;

	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		mb_classify_reply_provider(rules, samples[i].provider, samples[i].stage,
		                           samples[i].code, samples[i].enhanced, samples[i].text,
		                           &cls);
		if (!cls.reason || (cls.rule >= 0 && (size_t)cls.rule >= mb_rules_count(rules))) {
			fprintf(stderr, "sample %zu: reason %s, rule %d of %zu\n", i,
			        cls.reason ? cls.reason : "(null)", cls.rule,
			        mb_rules_count(rules));
			abort();
		}
	}
}

int mb_fuzz_rules(const uint8_t *data, size_t size)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_rules *rules = NULL;
	char path[64];
	int fd;

	if ((fd = memfd_create("rules.json", 0)) < 0) {
		perror("memfd_create");
		abort();
	}
	if (size && write(fd, data, size) != (ssize_t)size) {
		perror("write");
		abort();
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (mb_rules_builtin(&rules, &err))
		abort();
	size_t before = mb_rules_count(rules);
	if (mb_rules_load_file(rules, path, &err) == 0)
		classify_samples(rules);
	else if (mb_rules_count(rules) != before) {
		fprintf(stderr, "a failed load changed the set: %s\n", err.message);
		abort();
	}
	mb_rules_free(rules);
	close(fd);
	return 0;
}

#ifndef MB_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return mb_fuzz_rules(data, size);
}
#endif
