/* Experiment variants of a failing message: names, what each changes, and the builder that
 * writes a variant as a complete CRLF message ready for SMTP submission.
 * Inputs are untrusted (the message came from anywhere); outputs are owned by the caller. */
#ifndef MAILBISECT_VARIANT_H
#define MAILBISECT_VARIANT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "mailbisect/buf.h"
#include "mailbisect/err.h"

enum mb_variant {
	MB_VARIANT_ORIGINAL = 0,     /* as received, re-sent, primary pool */
	MB_VARIANT_PLAIN_TEXT,       /* one text/plain part, URLs kept as text */
	MB_VARIANT_LINKS_STRIPPED,   /* same structure, every link/remote image/pixel removed */
	MB_VARIANT_ALTERNATE_POOL,   /* as original, sent through the alternate pool */
	MB_VARIANT_NO_ATTACHMENTS,   /* original without attachments (optional) */
	MB_VARIANT_BARE,             /* plain text without links (optional, follow-ups) */
	MB_VARIANT_ALTERNATE_DOMAIN, /* as original, From in the alternate sending domain
	                                (optional; primary pool, alternate envelope sender) */
	MB_VARIANT_COUNT
};

const char *mb_variant_name(enum mb_variant v);
int mb_variant_from_name(const char *name, enum mb_variant *out); /* 0 or -1 */
bool mb_variant_uses_alternate_pool(enum mb_variant v);

struct mb_message; /* a parsed failing message; opaque */

/* Parses a message file. Not-MIME input (no header block) is MB_EDATA naming the file. */
int mb_message_load(struct mb_message **out, const char *path, struct mb_err *err);
/* Parses bytes; name is used in error messages. The bytes are copied. */
int mb_message_parse(struct mb_message **out, const char *data, size_t len, const char *name,
                     struct mb_err *err);
void mb_message_free(struct mb_message *msg);

/* Header values of the original (decoded to UTF-8 where encoded words are used), or NULL.
 * Borrowed: valid until mb_message_free. */
const char *mb_message_subject(const struct mb_message *msg);
const char *mb_message_from(const struct mb_message *msg); /* the address only */
/* Every address of To (groups included), addresses only, separated by ", ". */
const char *mb_message_to(const struct mb_message *msg);
/* The name given to load/parse (the path), for messages. Borrowed. */
const char *mb_message_name(const struct mb_message *msg);
/* The message bytes as parsed (an mbox "From " line before the headers is dropped).
 * Borrowed: valid until mb_message_free. */
const char *mb_message_data(const struct mb_message *msg, size_t *len);

/* What the message carries: an HTML part; attachment parts (not inline body parts). */
bool mb_message_has_html(const struct mb_message *msg);
bool mb_message_has_attachments(const struct mb_message *msg);

/* Unique, sorted, lower-case host names of every link in the message (the same set that
 * links-stripped removes). *out is a NULL-terminated array the caller frees with
 * mb_strv_free. */
int mb_message_link_domains(const struct mb_message *msg, char ***out, struct mb_err *err);
void mb_strv_free(char **v);

struct mb_variant_opts {
	const char *message_id; /* new Message-ID, with angle brackets; required */
	time_t date;            /* Date header; 0 = now */
	const char *from;       /* replaces the address of From (display name kept); NULL = keep */
};

/* Link host names that variant v of msg carries (the variant is built, parsed again and
 * its links collected): what a receiver's URL filter sees in that send. Same format and
 * ownership as mb_message_link_domains. */
int mb_variant_link_domains(const struct mb_message *msg, enum mb_variant v, char ***out,
                            struct mb_err *err);

/* Builds variant v of msg into out (appended) as a complete message with CRLF line ends:
 * Subject/From/To kept, trace headers removed, fresh Message-ID and Date set. */
int mb_variant_build(const struct mb_message *msg, enum mb_variant v,
                     const struct mb_variant_opts *opts, struct mb_buf *out, struct mb_err *err);

/* links-stripped restricted to the links that lead to some of the given hosts, for link-domain
 * bisection: builds like mb_variant_build(msg, MB_VARIANT_LINKS_STRIPPED, ...) but removes a
 * link, remote image, tracking pixel, url() or bare URL only when a host it leads to (its
 * own or one wrapped in a redirect, as mb_message_link_domains names them) is in hosts or a
 * subdomain of one ("sender.example" takes in "www.sender.example"; compared without case,
 * a trailing dot ignored). A wrapper therefore goes when any host it leads to is in the
 * set, taking its other hosts with it: the variant's link domains are the message's minus
 * the set, less any host that appeared only in such wrappers. Every other byte is as in
 * the original (a part is re-encoded only when a link in it went); links that
 * lead to no host at all (mailto:, relative paths) stay. hosts is a NULL-terminated array,
 * borrowed; NULL or empty strips nothing (the result is the original variant). With every
 * host of mb_message_link_domains the result is links-stripped itself, save for host-less
 * links. Errors as mb_variant_build. */
int mb_variant_build_strip_hosts(const struct mb_message *msg, char *const *hosts,
                                 const struct mb_variant_opts *opts, struct mb_buf *out,
                                 struct mb_err *err);

#endif
