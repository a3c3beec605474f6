/* libFuzzer target for the experiment spec loader (mb_spec_parse): any bytes must give a spec
 * or an error, and a spec that loaded must serialise to JSON that loads again, unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailbisect/spec.h"
#include "fuzz_targets.h"

/* A directory that does not exist, so relative paths resolve without touching real files. */
#define FUZZ_BASE_DIR "/nonexistent/mailbisect-fuzz"

static void check_round_trip(const struct mb_spec *spec)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_spec *again = NULL;
	char *json = NULL, *json_again = NULL;

	if (mb_spec_to_json(spec, &json))
		return; /* out of memory */
	if (mb_spec_parse(&again, json, strlen(json), "fuzz.json", FUZZ_BASE_DIR, &err)) {
		fprintf(stderr, "serialised spec does not load again: %s\n%s\n", err.message, json);
		abort();
	}
	if (mb_spec_planned_sends(again) != mb_spec_planned_sends(spec)) {
		fprintf(stderr, "planned sends changed: got %ld, want %ld\n",
		        mb_spec_planned_sends(again), mb_spec_planned_sends(spec));
		abort();
	}
	if (!mb_spec_to_json(again, &json_again) && strcmp(json, json_again) != 0) {
		fprintf(stderr, "serialising twice differs:\n%s\n---\n%s\n", json, json_again);
		abort();
	}
	free(json_again);
	free(json);
	mb_spec_free(again);
}

int mb_fuzz_spec(const uint8_t *data, size_t size)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_spec *spec = NULL;

	if (mb_spec_parse(&spec, (const char *)data, size, "fuzz.json", FUZZ_BASE_DIR, &err))
		return 0;
	check_round_trip(spec);
	mb_spec_free(spec);
	return 0;
}

#ifndef MB_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return mb_fuzz_spec(data, size);
}
#endif
