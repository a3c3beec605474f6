/* Whole-bounce reading: the delivery-status report when there is one, an ARF feedback report,
 * an auto-reply, or else the notification text of an MTA or provider, turned into one record
 * per recipient with its reply, stage and classification. */
#include "mailbisect/bounce.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "mailbisect/buf.h"
#include "mailbisect/dsn.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"
#include "bounce_internal.h"

static const char *const kind_names[MB_BOUNCE_KIND_COUNT] = {
    [MB_BOUNCE_NONE] = "none",
    [MB_BOUNCE_DSN] = "dsn",
    [MB_BOUNCE_NDR] = "ndr",
    [MB_BOUNCE_FEEDBACK] = "feedback",
    [MB_BOUNCE_AUTOREPLY] = "autoreply",
};

const char *mb_bounce_kind_name(enum mb_bounce_kind k)
{
	return (unsigned)k < MB_BOUNCE_KIND_COUNT ? kind_names[k] : "none";
}

static void record_clear(struct mb_bounce_record *r)
{
	free(r->recipient);
	free(r->action);
	free(r->status);
	free(r->diagnostic);
	free(r->diagnostic_type);
	free(r->remote_mta);
	free(r->feedback_type);
}

void mb_bounce_free(struct mb_bounce *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_records; i++)
		record_clear(&b->records[i]);
	free(b->records);
	free(b->envid);
	free(b->original_message_id);
	free(b->delivered_to);
	free(b->message_id);
	free(b);
}

static char *steal(char **p)
{
	char *s = *p;
	*p = NULL;
	return s;
}

/* A new, zeroed record at the end of b's list (NULL when out of memory or at the limit). */
struct mb_bounce_record *bounce_record_add(struct mb_bounce *b)
{
	struct mb_bounce_record *list;
	if (b->n_records >= MB_MAX_DSN_RECIPIENTS) {
		b->truncated = true;
		return NULL;
	}
	list = realloc(b->records, (b->n_records + 1) * sizeof *list);
	if (!list)
		return NULL;
	b->records = list;
	memset(&list[b->n_records], 0, sizeof *list);
	return &list[b->n_records++];
}

/* ---- The delivery-status report ----------------------------------------------------------- */

static int take_dsn(struct mb_dsn *dsn, struct mb_bounce *b, struct bounce_context *ctx)
{
	if (dsn->reporting_mta)
		bounce_host_copy(dsn->reporting_mta, ctx->reporting, sizeof ctx->reporting);
	b->envid = steal(&dsn->envid);
	b->original_message_id = steal(&dsn->original_message_id);
	b->delivered_to = steal(&dsn->delivered_to);
	b->message_id = steal(&dsn->message_id);
	if (!dsn->is_report)
		return 0;
	b->truncated = dsn->truncated;
	for (size_t i = 0; i < dsn->n_recipients; i++) {
		struct mb_dsn_recipient *d = &dsn->recipients[i];
		struct mb_bounce_record *r = bounce_record_add(b);
		if (!r)
			return MB_ENOMEM;
		r->recipient = steal(&d->final_recipient);
		r->action = steal(&d->action);
		r->status = steal(&d->status);
		r->diagnostic = steal(&d->diagnostic);
		r->remote_mta = steal(&d->remote_mta);
		r->reply_code = d->reply_code;
		r->stage = d->stage;
		r->diagnostic_type = steal(&d->diagnostic_type);
	}
	if (b->n_records)
		b->kind = MB_BOUNCE_DSN;
	return 0;
}

/* "\"first.last..\"@example.org" -> "first.last..@example.org": the quotes protect a local
 * part that is not a dot-atom, the mailbox is the same. In place. */
static void recipient_unquote(char *a)
{
	char *close;
	size_t n;
	if (!a || a[0] != '"' || !(close = strstr(a + 1, "\"@")))
		return;
	if (memchr(a + 1, ' ', (size_t)(close - a - 1)))
		return; /* a space needs the quotes */
	n = strlen(close + 1);
	memmove(a, a + 1, (size_t)(close - a - 1));
	memmove(close - 1, close + 1, n + 1);
}

static int bounce_read(const struct mb_rules *rules, const char *data, size_t len,
                       struct mb_bounce **out, struct mb_err *err);

/* A copy with every lone CR (old Mac line ends, CR-only mbox files) made LF, CRLF kept; NULL
 * when there is no lone CR (or no memory: the caller then reads the bytes as they are). */
static char *lone_cr_to_lf(const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	char *copy;
	bool lone = false;
	/* most messages hold no CR, or only CRLF: memchr passes over them quickly */
	while (!lone && p < end && (p = memchr(p, '\r', (size_t)(end - p)))) {
		lone = p + 1 == end || p[1] != '\n';
		p++;
	}
	if (!lone || !(copy = malloc(len ? len : 1)))
		return NULL;
	for (size_t i = 0; i < len; i++)
		copy[i] = data[i] == '\r' && (i + 1 == len || data[i + 1] != '\n') ? '\n' : data[i];
	return copy;
}

int mb_bounce_read(const struct mb_rules *rules, const char *data, size_t len,
                   struct mb_bounce **out, struct mb_err *err)
{
	char *normalised = lone_cr_to_lf(data, len);
	int rc = bounce_read(rules, normalised ? normalised : data, len, out, err);
	free(normalised);
	return rc;
}

static int bounce_read(const struct mb_rules *rules, const char *data, size_t len,
                       struct mb_bounce **out, struct mb_err *err)
{
	struct mb_dsn *dsn = NULL;
	struct bounce_context ctx = {0};
	struct mb_bounce *b;
	GMimeMessage *m;
	GByteArray *bytes;
	int rc;

	*out = NULL;
	if ((rc = dsn_parse_message(data, len, &dsn, &m, &bytes, err)))
		return rc;
	if (!(b = calloc(1, sizeof *b))) {
		mb_dsn_free(dsn);
		g_object_unref(m);
		dsn_bytes_release(bytes);
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
	rc = take_dsn(dsn, b, &ctx);
	mb_dsn_free(dsn);
	if (!rc)
		rc = bounce_read_text(m, data, len, b, &ctx);
	g_object_unref(m);
	dsn_bytes_release(bytes);
	if (rc) {
		mb_bounce_free(b);
		return mb_err_set(err, rc, "bounce: out of memory");
	}
	for (size_t i = 0; i < b->n_records; i++) {
		recipient_unquote(b->records[i].recipient);
		bounce_status_settle(&b->records[i]);
		bounce_classify(rules, b, &ctx, &b->records[i]);
	}
	*out = b;
	return 0;
}
