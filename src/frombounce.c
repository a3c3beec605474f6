/* The failing message and the failed recipient out of a non-delivery report. The recipient
 * and the receiver's words come from the bounce reader; the returned message is the first
 * message/rfc822 (or message/global) part, written back out by GMime as it came. */
#include "gmime_init.h"
#include "mailbisect/frombounce.h"
#include "mailbisect/bounce.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"

#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

static bool has_type(GMimeObject *obj, const char *type, const char *subtype)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	return ct && g_mime_content_type_is_type(ct, type, subtype);
}

/* The first returned message in the tree, or NULL; *headers_only when the report carried
 * only its header block. */
static GMimeMessage *find_returned(GMimeObject *obj, int depth, bool *headers_only)
{
	if (!obj || depth > MB_MAX_MIME_DEPTH)
		return NULL;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		for (int i = 0; i < g_mime_multipart_get_count(mp) && i < MB_MAX_MIME_PARTS; i++) {
			GMimeMessage *m = find_returned(g_mime_multipart_get_part(mp, i), depth + 1,
			                                headers_only);
			if (m)
				return m;
		}
		return NULL;
	}
	if (GMIME_IS_MESSAGE_PART(obj))
		return g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
	if (has_type(obj, "text", "rfc822-headers") || has_type(obj, "message", "global-headers"))
		*headers_only = true;
	return NULL;
}

/* A returned message with no body is the header block only. */
static bool has_body(GMimeMessage *m)
{
	GMimeObject *body = g_mime_message_get_mime_part(m);
	GMimeDataWrapper *content;
	GMimeStream *s;
	gint64 len;

	if (!body)
		return false;
	if (!GMIME_IS_PART(body))
		return true;
	content = g_mime_part_get_content(GMIME_PART(body));
	s = content ? g_mime_data_wrapper_get_stream(content) : NULL;
	len = s ? g_mime_stream_length(s) : 0;
	return len > 2;
}

static int write_message(GMimeMessage *m, struct mb_buf *out)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GByteArray *bytes;
	int rc = 0;

	if (g_mime_object_write_to_stream(GMIME_OBJECT(m), NULL, mem) < 0)
		rc = MB_EDATA;
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	if (!rc && bytes->len > MB_MAX_MESSAGE_BYTES)
		rc = MB_EDATA;
	if (!rc)
		rc = mb_buf_append(out, bytes->data, bytes->len);
	g_object_unref(mem);
	return rc;
}

/* The recipient the experiment is about: the first failed one refused for a reason the
 * experiment can take apart (an unknown user or a full mailbox says nothing of content, IP or
 * domain), else the first failed one, else the first with a permanent failure. NULL when none
 * has an address whose domain is a host name. */
static const struct mb_bounce_record *record_pick(const struct mb_bounce *b)
{
	const struct mb_bounce_record *best = NULL;
	int best_rank = 0;

	for (size_t i = 0; i < b->n_records; i++) {
		const struct mb_bounce_record *r = &b->records[i];
		bool failed = r->action && !strcmp(r->action, "failed");
		int rank = failed && r->cls.fault != MB_FAULT_RECIPIENT ? 3
		           : failed                                     ? 2
		           : r->cls.hard                                ? 1
		                                                        : 0;
		const char *domain = r->recipient ? mb_addr_domain(r->recipient) : NULL;
		if (rank > best_rank && domain && mb_domain_valid(domain, strlen(domain))) {
			best = r;
			best_rank = rank;
		}
	}
	return best;
}

int mb_from_bounce_read(const char *name, const char *data, size_t len, struct mb_from_bounce *out,
                        struct mb_err *err)
{
	struct mb_bounce *b = NULL;
	const struct mb_bounce_record *failed = NULL;
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *ndr, *returned;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = mb_bounce_read(NULL, data, len, &b, err)))
		return mb_err_prefix(err, "%s: ", name);
	failed = record_pick(b);
	if (!failed) {
		mb_bounce_free(b);
		return mb_err_set(err, MB_EDATA,
		                  "%s: no failed recipient found: is this a non-delivery report?",
		                  name);
	}
	out->recipient = mb_strdup(failed->recipient);
	out->domain = out->recipient ? mb_strdup(mb_addr_domain(out->recipient)) : NULL;
	out->diagnostic = mb_strdup(failed->diagnostic);
	out->status = mb_strdup(failed->status);
	out->cls = failed->cls;
	mb_bounce_free(b);
	if (!out->recipient || !out->domain) {
		mb_from_bounce_clear(out);
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
	for (char *p = out->recipient; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	for (char *p = out->domain; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);

	mb_gmime_init();
	stream = g_mime_stream_mem_new_with_buffer(data, len);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	ndr = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	returned =
	    ndr ? find_returned(g_mime_message_get_mime_part(ndr), 1, &out->headers_only) : NULL;
	if (returned && !has_body(returned)) {
		out->headers_only = true;
		returned = NULL;
	}
	if (returned && (rc = write_message(returned, &out->message))) {
		if (ndr)
			g_object_unref(ndr);
		mb_from_bounce_clear(out);
		return mb_err_set(err, rc, "%s: the returned message cannot be read back", name);
	}
	if (ndr)
		g_object_unref(ndr);
	return 0;
}

void mb_from_bounce_clear(struct mb_from_bounce *fb)
{
	free(fb->recipient);
	free(fb->domain);
	free(fb->diagnostic);
	free(fb->status);
	mb_buf_free(&fb->message);
	memset(fb, 0, sizeof *fb);
}
