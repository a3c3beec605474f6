/* Classification of receiver replies: an ordered rule table kept as data (stage, reply code,
 * enhanced code, text fragments -> reason and fault). Same input, same answer, every run.
 * reason is in Sisimai's vocabulary plus "urlreputation" and "domainreputation". */
#ifndef MAILBISECT_CLASSIFY_H
#define MAILBISECT_CLASSIFY_H

#include <stdbool.h>

#include "mailbisect/outcome.h"

struct mb_classification {
	const char *reason; /* static string, never NULL ("undefined" when nothing matched) */
	enum mb_fault fault;
	bool hard;          /* permanent (5xx) */
	int rule;           /* index of the rule that matched, -1 for none */
};

/* Classifies one reply. text is untrusted and may be multi-line; code 0 and enhanced NULL
 * when unknown (they are then read from the text). */
void mb_classify_reply(enum mb_stage stage, int code, const char *enhanced, const char *text,
		       struct mb_classification *out);

#endif
