/* Classification of receiver replies: an ordered rule table kept as data (stage, reply code,
 * enhanced code, text fragments -> reason and fault). Same input, same answer, every run.
 * reason is in Sisimai's vocabulary plus "urlreputation" and "domainreputation". */
#ifndef MAILBISECT_CLASSIFY_H
#define MAILBISECT_CLASSIFY_H

#include <stdbool.h>

#include <stddef.h>

#include "mailbisect/err.h"
#include "mailbisect/outcome.h"

struct mb_classification {
	const char *reason; /* static string, never NULL ("undefined" when nothing matched) */
	enum mb_fault fault;
	bool hard; /* permanent (5xx) */
	int rule;  /* index of the rule that matched (mb_rules_count() for a provider's documented
	            * code, classify_rules.h), -1 for none */
};

/* A rule set: the built-in table, optionally preceded by rules loaded from a file (--rules),
 * which are tried first. Immutable once built; no global state, so two sets can coexist. */
struct mb_rules;

/* The built-in rules only. */
int mb_rules_builtin(struct mb_rules **out, struct mb_err *err);
/* Adds the rules of a JSON rules file (format in README.md, "Classification rules") in front
 * of the rules already in the set. Errors name the file and the rule ("rules.json: rule 3:
 * reason: unknown reason \"blockd\""); the set is unchanged on error. */
int mb_rules_load_file(struct mb_rules *rules, const char *path, struct mb_err *err);
void mb_rules_free(struct mb_rules *rules);
/* Number of rules in the set (built-in included). */
size_t mb_rules_count(const struct mb_rules *rules);

/* Classifies one reply with the given set (NULL: the built-in rules). text is untrusted and
 * may be multi-line; code 0 and enhanced NULL when unknown (they are then read from the
 * text). */
void mb_classify_reply_with(const struct mb_rules *rules, enum mb_stage stage, int code,
                            const char *enhanced, const char *text, struct mb_classification *out);
/* Same, for a reply read from a bounce in a known format (bounce.h's provider name, or NULL):
 * rules that name a provider apply only to it. */
void mb_classify_reply_provider(const struct mb_rules *rules, const char *provider,
                                enum mb_stage stage, int code, const char *enhanced,
                                const char *text, struct mb_classification *out);
/* Same with the built-in rules. */
void mb_classify_reply(enum mb_stage stage, int code, const char *enhanced, const char *text,
                       struct mb_classification *out);

#endif
