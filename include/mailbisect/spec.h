/* Experiment spec: the JSON file a user writes (or a config plus a bounce builds) describing
 * one experiment. Loading validates every field and names the field path on error; nothing
 * may be sent from a spec that did not validate. Secrets are references (environment
 * variable or file), never values. */
#ifndef MAILBISECT_SPEC_H
#define MAILBISECT_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "mailbisect/err.h"
#include "mailbisect/variant.h"

enum mb_tls { MB_TLS_NONE = 0, MB_TLS_STARTTLS, MB_TLS_IMPLICIT };

/* Where a secret comes from: exactly one of env or file is set. */
struct mb_secret_ref {
	char *env;
	char *file;
};

struct mb_header_field {
	char *name;
	char *value;
};

struct mb_pool_spec {
	char *name;      /* label in reports, e.g. "pool-a" (default "primary"/"alternate") */
	char *transport; /* "smtp" (default) */
	char *host;
	long port;
	enum mb_tls tls;
	bool tls_verify; /* verify the relay certificate (default true) */
	char *ca_file;   /* optional CA bundle for tls_verify */
	char *auth_user; /* NULL when no AUTH */
	struct mb_secret_ref auth_password;
	char *helo;                      /* optional EHLO name */
	struct mb_header_field *headers; /* extra headers added to every message of this pool */
	size_t n_headers;
	long timeout_seconds; /* per SMTP command (default 30) */
};

struct mb_mailbox_spec {
	char *url; /* imap://host:port/MAILBOX or imaps:// */
	char *user;
	struct mb_secret_ref password;
	long poll_interval_ms; /* default 1000 */
};

struct mb_spec {
	char *path;         /* the spec file as given */
	char *name;         /* experiment name */
	char *message_path; /* failing message, resolved against the spec's directory */
	char *domain;       /* affected recipient domain */
	char **recipients;  /* every one belongs to domain */
	size_t n_recipients;
	char *envelope_sender; /* may contain "{send}" (VERP) */
	/* the alternate-domain variant: From address and envelope sender in a second sending
	 * domain (has_alternate_domain) */
	char *alternate_from;
	char *alternate_envelope_sender;
	bool has_alternate_domain;
	enum mb_variant *variants;
	size_t n_variants;
	long repeat; /* sends per variant and recipient (default 1) */
	struct mb_pool_spec primary;
	struct mb_pool_spec alternate;
	bool has_alternate;
	struct mb_mailbox_spec mailbox;
	bool has_mailbox;
	long window_seconds; /* how long to wait for outcomes (default 120) */
	long pacing_ms;      /* pause between sends (default 2000) */
	long max_messages;   /* cap on sends in one run (default 20) */
	long followups;      /* most follow-up sends after the plan (default 4, 0 = none) */
};

/* Loads and validates a spec file. Errors: MB_ENOINPUT (file), MB_EDATA (the document does not
 * have the spec's shape: JSON syntax, not an object, wrong type, unknown or duplicate key,
 * missing required key, inline password, both or neither of password_env/password_file, a
 * string holding an escaped NUL (\u0000); message "PATH: field.path: expected integer"),
 * MB_ECONFIG (well-formed but unusable values: out of range, bad name or address, recipient
 * outside domain, unknown variant or transport, plan over the cap, missing alternate pool, a
 * pool header that belongs to the message or a non-ASCII header value). Secrets are not read
 * here. Without "name", the name is made from the file's name (see mb_spec_parse). */
int mb_spec_load(struct mb_spec **out, const char *path, struct mb_err *err);
/* Same from bytes; base_dir resolves a relative "message" path (NULL = current directory).
 * name labels the messages; without a "name" key the experiment is named after it (its last
 * path element without the extension, characters outside A-Z a-z 0-9 . _ - replaced by '-',
 * cut to 64; "experiment" for "-" or when no letter or digit is left). */
int mb_spec_parse(struct mb_spec **out, const char *json, size_t len, const char *name,
                  const char *base_dir, struct mb_err *err);
void mb_spec_free(struct mb_spec *spec);

/* The spec JSON for an experiment started from a bounce: the reusable ESP config (a spec
 * without name, message, domain and recipients: pools, mailbox, envelope sender, limits) plus
 * what the bounce gave. The result still has to pass mb_spec_parse (with the config's
 * directory as base_dir). Caller frees *json. Errors name the config file. */
int mb_spec_from_config(const char *config_path, const char *name, const char *message_path,
                        const char *domain, const char *recipient, char **json, struct mb_err *err);

/* Resolves a secret reference; *out (caller frees) is NULL when ref is empty. */
int mb_secret_resolve(const struct mb_secret_ref *ref, const char *field, char **out,
                      struct mb_err *err);

/* Number of sends the spec plans: variants x recipients x repeat. */
long mb_spec_planned_sends(const struct mb_spec *spec);

/* Resolves every secret the spec refers to (and forgets them at once), so that a run can fail
 * before its first send. Errors as mb_secret_resolve, prefixed with the spec path. */
int mb_spec_check_secrets(const struct mb_spec *spec, struct mb_err *err);

/* Serialises a validated spec as JSON that mb_spec_parse accepts again: every default made
 * explicit, paths resolved, secrets as their references only (password_env/password_file).
 * *out is NUL-terminated and the caller frees it. Returns 0 or MB_ENOMEM. */
int mb_spec_to_json(const struct mb_spec *spec, char **out);

/* One field the loader accepts, for tests and tools that keep the JSON Schema and the docs in
 * agreement with the loader. Strings are static or valid only during the callback. */
struct mb_spec_field {
	const char *path;         /* "pools.primary.auth.user" */
	const char *type;         /* JSON Schema type: string, integer, boolean, array, object */
	bool is_map;              /* object with free keys (headers) */
	bool required;            /* required within its parent object */
	long min, max;            /* integer range, array item count, map size; 0 0 otherwise */
	const char *default_json; /* the default as JSON text, or NULL when there is none */
};

/* Calls fn for every field, parents before children, in the loader's (and docs') order. */
void mb_spec_fields(void (*fn)(const struct mb_spec_field *field, void *ctx), void *ctx);

/* The header fields pools.<pool>.headers refuses, compared without regard to case: they belong
 * to the message or its identity and routing. A name ending in '*' stands for every name with
 * that prefix ("Content-*"). NULL-terminated, static. */
const char *const *mb_spec_reserved_headers(void);

#endif
