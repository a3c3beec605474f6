/* `mailbisect classify`: bounces read from files, mbox files, Maildir folders or standard
 * input, or one SMTP reply, classified and printed one line per recipient record. */
#ifndef MAILBISECT_CLI_CLASSIFY_H
#define MAILBISECT_CLI_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

struct cli_classify {
	char *const *paths; /* files, folders or "-"; borrowed from argv */
	size_t n_paths;
	const char *rules; /* --rules FILE, or NULL */
	const char *reply; /* --reply TEXT, or NULL */
	const char *stage; /* --stage NAME, or NULL */
	bool json;
	bool quiet;                      /* no summary on stderr */
	const volatile int *interrupted; /* set by SIGINT/SIGTERM: stop after the message read */
};

/* Runs the command; returns the process exit code (README.md, "mailbisect classify"). */
int cli_classify(const struct cli_classify *opts);

#endif
