/* Terminal and JSON reports of a run, built from the store so `run` and later commands show
 * the same thing. The verdict is recomputed from the stored sends. */
#include "mailbisect/report.h"
#include "mailbisect/buf.h"
#include "mailbisect/run.h"
#include "mailbisect/str.h"
#include "report_internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* Adds a string or null. */
static void add_str(cJSON *obj, const char *key, const char *value)
{
	if (value)
		cJSON_AddStringToObject(obj, key, value);
	else
		cJSON_AddNullToObject(obj, key);
}

static cJSON *verdict_object(const struct mb_verdict *v)
{
	cJSON *o = cJSON_CreateObject(), *steps;
	const char *line;

	if (!o)
		return NULL;
	add_str(o, "fault", v->fault);
	add_str(o, "detail", v->detail);
	add_str(o, "relation", v->relation);
	add_str(o, "link_domain", v->link_domain);
	add_str(o, "confounded", v->confounded);
	cJSON_AddNumberToObject(o, "confidence", (double)(long)(v->confidence * 100 + 0.5) / 100);
	cJSON_AddBoolToObject(o, "unconfirmed", v->unconfirmed);
	add_str(o, "texts", v->texts);
	add_str(o, "summary", v->summary);
	add_str(o, "alternatives", v->alternatives);
	steps = cJSON_AddArrayToObject(o, "next_steps");
	for (line = v->next_steps; steps && line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char *copy = mb_strndup(line, len);
		if (copy)
			cJSON_AddItemToArray(steps, cJSON_CreateString(copy));
		free(copy);
		line = nl ? nl + 1 : line + len;
	}
	return o;
}

char *mb_report_verdict_json(const struct mb_verdict *v)
{
	cJSON *o = verdict_object(v);
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return s;
}

int mb_report_message_digest(const struct mb_message *msg, char *out, size_t size)
{
	size_t len;
	const unsigned char *p = (const unsigned char *)mb_message_data(msg, &len);
	uint64_t h =
	    1469598103934665603ull; /* FNV-1a, 64 bit: tells a changed file, not a secret */
	for (size_t i = 0; p && i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return snprintf(out, size, "fnv1a64:%016llx:%zu", (unsigned long long)h, len) < (int)size
	           ? 0
	           : -1;
}

char *mb_report_facts_json(const struct mb_message *msg, char *const *link_domains)
{
	cJSON *o = cJSON_CreateObject(), *links;
	char digest[64];
	const char *from = mb_message_from(msg);
	char *s;

	if (!o)
		return NULL;
	add_str(o, "file", mb_message_name(msg));
	add_str(o, "from", from);
	add_str(o, "from_domain", from ? mb_addr_domain(from) : NULL);
	add_str(o, "to", mb_message_to(msg));
	add_str(o, "subject", mb_message_subject(msg));
	if (mb_report_message_digest(msg, digest, sizeof digest) == 0)
		add_str(o, "digest", digest);
	cJSON_AddBoolToObject(o, "has_html", mb_message_has_html(msg));
	cJSON_AddBoolToObject(o, "has_attachments", mb_message_has_attachments(msg));
	links = cJSON_AddArrayToObject(o, "link_domains");
	for (size_t i = 0; links && link_domains && link_domains[i]; i++)
		cJSON_AddItemToArray(links, cJSON_CreateString(link_domains[i]));
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static cJSON *send_object(const struct mb_send_row *r)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "seq", r->seq);
	add_str(o, "variant", r->variant);
	add_str(o, "pool", r->pool);
	add_str(o, "recipient", r->recipient);
	add_str(o, "message_id", r->message_id);
	add_str(o, "envid", r->key);
	add_str(o, "envelope_sender", r->envelope_from);
	add_str(o, "state", mb_state_name(r->state));
	add_str(o, "stage", r->stage != MB_STAGE_UNKNOWN ? mb_stage_name(r->stage) : NULL);
	if (r->smtp_code)
		cJSON_AddNumberToObject(o, "smtp_code", r->smtp_code);
	else
		cJSON_AddNullToObject(o, "smtp_code");
	add_str(o, "enhanced_status", r->enhanced_status);
	add_str(o, "diagnostic", r->diagnostic);
	add_str(o, "remote_mta", r->remote_mta);
	add_str(o, "source", r->source != MB_SOURCE_NONE ? mb_source_name(r->source) : NULL);
	add_str(o, "matched_by", r->matched_by);
	add_str(o, "reason", r->reason);
	add_str(o, "fault", r->reason ? mb_fault_name(r->fault) : NULL);
	add_str(o, "relay", r->relay);
	add_str(o, "relay_reply", r->relay_reply);
	add_str(o, "queue_id", r->queue_id);
	add_str(o, "planned_at", r->planned_at);
	add_str(o, "sent_at", r->sent_at);
	add_str(o, "resolved_at", r->resolved_at);
	if (r->bisect && strchr(r->bisect, '|')) {
		/* a bisection send: the link domains it went without */
		cJSON *list = cJSON_AddArrayToObject(o, "without_links_to");
		for (const char *p = strchr(r->bisect, '|') + 1; list && *p;) {
			const char *end = strchr(p, ',');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			char *host = mb_strndup(p, len);
			if (host)
				cJSON_AddItemToArray(list, cJSON_CreateString(host));
			free(host);
			p += len + (end ? 1 : 0);
		}
	}
	return o;
}

/* A message with one link domain needs no bisection: when the links are refused, it is that
 * domain. */
static void single_link_domain(struct mb_report_data *d)
{
	cJSON *facts, *links;
	struct mb_verdict *v = &d->verdict;

	if (v->link_domain || !v->detail || strcmp(v->detail, "links") != 0 || !d->run.facts_json)
		return;
	facts = cJSON_Parse(d->run.facts_json);
	links = cJSON_GetObjectItemCaseSensitive(facts, "link_domains");
	if (cJSON_GetArraySize(links) == 1 && cJSON_IsString(cJSON_GetArrayItem(links, 0)))
		v->link_domain = mb_strdup(cJSON_GetArrayItem(links, 0)->valuestring);
	cJSON_Delete(facts);
}

static const char *pool_str(const cJSON *pool, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(pool, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* An `ip` verdict holds only when the alternate pool differs from the primary in the IP alone
 * (DESIGN.md): a different relay host, account or pool headers make it confounded. */
static void check_confounded(struct mb_report_data *d)
{
	struct mb_verdict *v = &d->verdict;
	cJSON *spec;
	const cJSON *pools, *a, *b, *ha, *hb;
	struct mb_buf why = MB_BUF_INIT;

	if (strcmp(v->fault, "ip") != 0 && strcmp(v->fault, "ip+content") != 0)
		return;
	spec = cJSON_Parse(d->run.spec_json);
	pools = cJSON_GetObjectItemCaseSensitive(spec, "pools");
	a = cJSON_GetObjectItemCaseSensitive(pools, "primary");
	b = cJSON_GetObjectItemCaseSensitive(pools, "alternate");
	if (a && b) {
		const cJSON *ua = cJSON_GetObjectItemCaseSensitive(
		                cJSON_GetObjectItemCaseSensitive(a, "auth"), "user"),
		            *ub = cJSON_GetObjectItemCaseSensitive(
		                cJSON_GetObjectItemCaseSensitive(b, "auth"), "user");
		if (strcmp(pool_str(a, "host"), pool_str(b, "host")) != 0)
			mb_buf_printf(&why, "%sthe relay (%s vs %s)", why.len ? ", " : "",
			              pool_str(a, "host"), pool_str(b, "host"));
		if ((ua == NULL) != (ub == NULL) || (cJSON_IsString(ua) && cJSON_IsString(ub) &&
		                                     strcmp(ua->valuestring, ub->valuestring) != 0))
			mb_buf_printf(&why, "%sthe account (AUTH user)", why.len ? ", " : "");
		ha = cJSON_GetObjectItemCaseSensitive(a, "headers");
		hb = cJSON_GetObjectItemCaseSensitive(b, "headers");
		/* a pool-selection header may differ in value; more or fewer headers may not */
		if (cJSON_GetArraySize(ha) != cJSON_GetArraySize(hb))
			mb_buf_printf(&why, "%sthe extra headers (%d vs %d)", why.len ? ", " : "",
			              cJSON_GetArraySize(ha), cJSON_GetArraySize(hb));
	}
	cJSON_Delete(spec);
	if (why.len && !mb_buf_terminate(&why)) {
		struct mb_buf s = MB_BUF_INIT;
		v->confounded = mb_buf_steal(&why);
		if (v->confounded &&
		    !mb_buf_printf(&s,
		                   "%s Confounded: besides the IP, the pools differ in %s, so the "
		                   "alternate pool's pass may be due to that.",
		                   v->summary ? v->summary : "", v->confounded)) {
			free(v->summary);
			v->summary = mb_buf_steal(&s);
		}
		mb_buf_free(&s);
	}
	mb_buf_free(&why);
}

int mb_report_data_load(struct mb_store *store, int64_t run_id, struct mb_report_data *d,
                        struct mb_err *err)
{
	int rc;
	memset(d, 0, sizeof *d);
	if ((rc = mb_store_run_get(store, run_id, &d->run, err)))
		return rc;
	if ((rc = mb_run_status_settle(store, &d->run)) ||
	    (rc = mb_store_sends_list(store, run_id, &d->sends, &d->n_sends, err)) ||
	    (rc = mb_run_verdict(store, run_id, &d->verdict, err))) {
		mb_store_run_row_clear(&d->run);
		mb_store_send_rows_free(d->sends, d->n_sends);
		return rc == MB_ENOMEM ? mb_err_set(err, rc, "out of memory") : rc;
	}
	single_link_domain(d);
	check_confounded(d);
	return 0;
}

void mb_report_data_clear(struct mb_report_data *d)
{
	mb_store_run_row_clear(&d->run);
	mb_store_send_rows_free(d->sends, d->n_sends);
	mb_verdict_clear(&d->verdict);
}

int mb_report_json(struct mb_store *store, int64_t run_id, FILE *out, struct mb_err *err)
{
	struct mb_report_data d;
	cJSON *root, *sends;
	char *text;
	int rc = mb_report_data_load(store, run_id, &d, err);

	if (rc)
		return rc;
	root = cJSON_CreateObject();
	if (root) {
		cJSON_AddNumberToObject(root, "run_id", (double)d.run.id);
		add_str(root, "name", d.run.name);
		add_str(root, "domain", d.run.domain);
		add_str(root, "status", d.run.status);
		add_str(root, "created_at", d.run.created_at);
		add_str(root, "finished_at", d.run.finished_at);
		cJSON_AddItemToObject(root, "verdict", verdict_object(&d.verdict));
		sends = cJSON_AddArrayToObject(root, "sends");
		for (size_t i = 0; sends && i < d.n_sends; i++)
			cJSON_AddItemToArray(sends, send_object(&d.sends[i]));
	}
	text = root ? cJSON_Print(root) : NULL;
	cJSON_Delete(root);
	mb_report_data_clear(&d);
	if (!text)
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	fprintf(out, "%s\n", text);
	free(text);
	return 0;
}

/* Prints untrusted text made printable, continuation lines indented. */
static void print_untrusted(FILE *out, const char *text, const char *indent)
{
	struct mb_buf b = MB_BUF_INIT;
	if (!text || mb_str_printable(&b, text, strlen(text), true)) {
		mb_buf_free(&b);
		return;
	}
	for (const char *p = b.data; *p; p++) {
		fputc(*p, out);
		if (*p == '\n' && p[1])
			fputs(indent, out);
	}
	mb_buf_free(&b);
}

static void print_send(FILE *out, const struct mb_send_row *r)
{
	const char *text = r->diagnostic ? r->diagnostic : NULL;
	bool more = (r->stage != MB_STAGE_UNKNOWN && r->state != MB_STATE_ACCEPTED &&
	             r->state != MB_STATE_DELIVERED) ||
	            r->reason || (r->bisect && strchr(r->bisect, '|'));
	/* the state column is padded only when something follows it on the line */
	fprintf(out, "  #%-3d %-15s %-10s %-*s", r->seq, r->variant, r->pool, more ? 15 : 0,
	        mb_state_name(r->state));
	if (r->stage != MB_STAGE_UNKNOWN && r->state != MB_STATE_ACCEPTED &&
	    r->state != MB_STATE_DELIVERED)
		fprintf(out, " at %s", mb_stage_name(r->stage));
	if (r->reason)
		fprintf(out, " [%s, %s]", r->reason, mb_fault_name(r->fault));
	if (r->bisect && strchr(r->bisect, '|')) {
		fputs(" (bisection: without links to ", out);
		print_untrusted(out, strchr(r->bisect, '|') + 1, "");
		fputc(')', out);
	}
	fputc('\n', out);
	if (text) {
		fputs("       ", out);
		print_untrusted(out, text, "       ");
		fputc('\n', out);
	}
}

int mb_report_text(struct mb_store *store, int64_t run_id, FILE *out, struct mb_err *err)
{
	struct mb_report_data d;
	int rc = mb_report_data_load(store, run_id, &d, err);
	const struct mb_verdict *v = &d.verdict;

	if (rc)
		return rc;
	fprintf(out, "Run %lld (%s) to %s, %s\n", (long long)d.run.id, d.run.name, d.run.domain,
	        d.run.status);
	fprintf(out, "Verdict: %s", v->fault);
	if (v->detail)
		fprintf(out, " (%s)", v->detail);
	if (v->link_domain) {
		fputs(", link domain ", out);
		print_untrusted(out, v->link_domain, "");
	}
	if (v->relation)
		fprintf(out, ", %s", v->relation);
	if (v->confidence > 0)
		fprintf(out, ", confidence %.2f", v->confidence);
	if (v->unconfirmed)
		fputs(", unconfirmed", out);
	fprintf(out, "\n  %s\n\nSends:\n", v->summary ? v->summary : "");
	for (size_t i = 0; i < d.n_sends; i++)
		print_send(out, &d.sends[i]);
	if (v->next_steps && *v->next_steps) {
		fputs("\nNext:\n  ", out);
		print_untrusted(out, v->next_steps, "  ");
		fputc('\n', out);
	}
	mb_report_data_clear(&d);
	return 0;
}
