/* The fuzz targets' entry points, one per parser of untrusted input. Each tests/fuzz/fuzz_*.c
 * defines its function and, unless MB_FUZZ_NO_MAIN, libFuzzer's entry calling it; the
 * regression test (tests/unit/test_fuzz_regressions.c) replays saved inputs through them. */
#ifndef MAILBISECT_FUZZ_TARGETS_H
#define MAILBISECT_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

/* Each returns 0; a broken promise aborts, so libFuzzer and the tests see a crash. */
int mb_fuzz_bounce(const uint8_t *data, size_t size);
int mb_fuzz_spec(const uint8_t *data, size_t size);
int mb_fuzz_message(const uint8_t *data, size_t size);
int mb_fuzz_rules(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
