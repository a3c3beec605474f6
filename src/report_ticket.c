/* The escalation ticket: a Markdown document for the ESP (or the receiver's postmaster) with
 * the questions to ask and the evidence bundle of a stored run. Receiver texts are quoted in
 * full, made printable, inside code fences longer than any backtick run they contain, so no
 * text from a bounce can change the document's structure. */
#include "mailbisect/report.h"
#include "mailbisect/buf.h"
#include "mailbisect/str.h"
#include "report_internal.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Longest run of backticks in s. */
static size_t backtick_run(const char *s)
{
	size_t best = 0, cur = 0;
	for (; s && *s; s++) {
		cur = *s == '`' ? cur + 1 : 0;
		if (cur > best)
			best = cur;
	}
	return best;
}

/* A fenced block holding untrusted text verbatim (made printable). */
static void put_fenced(FILE *out, const char *text)
{
	struct mb_buf b = MB_BUF_INIT;
	size_t fence;

	if (mb_str_printable(&b, text, strlen(text), true) || mb_buf_terminate(&b)) {
		mb_buf_free(&b);
		fputs("(text could not be shown: out of memory)\n", out);
		return;
	}
	fence = backtick_run(b.data) + 1;
	if (fence < 3)
		fence = 3;
	for (size_t i = 0; i < fence; i++)
		fputc('`', out);
	fprintf(out, "\n%s\n", b.data);
	for (size_t i = 0; i < fence; i++)
		fputc('`', out);
	fputc('\n', out);
	mb_buf_free(&b);
}

/* Untrusted text made printable on one line into b; false (and "—" written) when there is
 * nothing to show or no memory. */
static bool one_line(FILE *out, const char *text, struct mb_buf *b)
{
	if (text && *text && !mb_str_printable(b, text, strlen(text), false) &&
	    !mb_buf_terminate(b))
		return true;
	mb_buf_free(b);
	fputs("—", out);
	return false;
}

/* A table cell or inline value: printable, one line, Markdown's active characters escaped. */
static void put_cell(FILE *out, const char *text)
{
	struct mb_buf b = MB_BUF_INIT;
	if (!one_line(out, text, &b))
		return;
	for (const char *p = b.data; *p; p++) {
		if (*p == '|' || *p == '`' || *p == '*' || *p == '_' || *p == '<' || *p == '>')
			fputc('\\', out);
		fputc(*p, out);
	}
	mb_buf_free(&b);
}

/* An identifier (Message-ID, address, queue id) as inline code, so it copies as it is. */
static void put_code(FILE *out, const char *text)
{
	struct mb_buf b = MB_BUF_INIT;
	size_t ticks;
	if (!one_line(out, text, &b))
		return;
	ticks = backtick_run(b.data) + 1;
	for (size_t i = 0; i < ticks; i++)
		fputc('`', out);
	fprintf(out, b.data[0] == '`' ? " %s" : "%s", b.data);
	if (b.len && b.data[b.len - 1] == '`')
		fputc(' ', out);
	for (size_t i = 0; i < ticks; i++)
		fputc('`', out);
	mb_buf_free(&b);
}

static bool is_fail_state(enum mb_state s)
{
	return s == MB_STATE_BOUNCED || s == MB_STATE_DEFERRED;
}

/* Adds each IPv4 address in text (as receivers quote it: "[192.0.2.1]" or bare) to list. */
static void collect_ips(const char *text, char ***list, size_t *n)
{
	for (const char *p = text; p && *p; p++) {
		unsigned a, b, c, d;
		int used = 0;
		char ip[16];
		if (!isdigit((unsigned char)*p) ||
		    (p != text && (isalnum((unsigned char)p[-1]) || p[-1] == '.')))
			continue;
		if (sscanf(p, "%3u.%3u.%3u.%3u%n", &a, &b, &c, &d, &used) != 4 || a > 255 ||
		    b > 255 || c > 255 || d > 255 || isalnum((unsigned char)p[used]) ||
		    (p[used] == '.' && isdigit((unsigned char)p[used + 1])))
			continue;
		snprintf(ip, sizeof ip, "%u.%u.%u.%u", a, b, c, d);
		p += used - 1;
		bool seen = false;
		for (size_t i = 0; i < *n && !seen; i++)
			seen = !strcmp((*list)[i], ip);
		if (seen || *n >= 64)
			continue;
		char **grown = realloc(*list, (*n + 1) * sizeof **list);
		if (!grown)
			return;
		*list = grown;
		if (((*list)[*n] = strdup(ip)))
			(*n)++;
	}
}

static const char *facts_str(const cJSON *facts, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(facts, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Pool name -> "host:port" from the spec stored with the run. */
static void pool_relay(const cJSON *spec, const char *pool, char *out, size_t size)
{
	const cJSON *pools = cJSON_GetObjectItemCaseSensitive(spec, "pools"), *p;
	out[0] = '\0';
	cJSON_ArrayForEach(p, pools)
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
		const cJSON *host = cJSON_GetObjectItemCaseSensitive(p, "host");
		const cJSON *port = cJSON_GetObjectItemCaseSensitive(p, "port");
		if (cJSON_IsString(name) && !strcmp(name->valuestring, pool) &&
		    cJSON_IsString(host) && cJSON_IsNumber(port))
			snprintf(out, size, "%s:%d", host->valuestring, port->valueint);
	}
}

static void put_questions(FILE *out, const struct mb_report_data *d, char **ips, size_t n_ips)
{
	const char *fault = d->verdict.fault;
	int q = 1;

	fprintf(out, "## Questions\n\n");
	fprintf(out,
	        "%d. Which sending IP address and IP pool sent each message listed under "
	        "Evidence (by Message-ID)? Is that pool shared with other senders or "
	        "dedicated to us?\n",
	        q++);
	fprintf(out,
	        "%d. Is a reputation problem or block list entry known for those addresses or "
	        "their range",
	        q++);
	if (n_ips) {
		fputs(" (the receiver named: ", out);
		for (size_t i = 0; i < n_ips; i++)
			fprintf(out, "%s%s", i ? ", " : "", ips[i]);
		fputc(')', out);
	}
	fputs("?\n", out);
	fprintf(out,
	        "%d. Did SPF, DKIM and DMARC pass for these messages when you handed them "
	        "off (which DKIM d= and Return-Path domain did you use)?\n",
	        q++);
	if (!strcmp(fault, "content") || !strcmp(fault, "ip+content"))
		fprintf(out,
		        "%d. Do you rewrite links for click tracking, and is the tracking domain "
		        "shared with other customers? Is any of the link domains listed under "
		        "Scope known to a URL block list?\n",
		        q++);
	if (!strcmp(fault, "domain"))
		fprintf(out,
		        "%d. Is our sending domain known to you or the receiver for complaints, "
		        "authentication failures or a block list entry?\n",
		        q++);
	fprintf(out,
	        "%d. What remediation is under way (delisting request, pool move, warm-up) "
	        "and when do you expect it to take effect?\n\n",
	        q++);
}

static void put_scope(FILE *out, const struct mb_report_data *d, const cJSON *facts,
                      const cJSON *spec, char **ips, size_t n_ips)
{
	const cJSON *links = cJSON_GetObjectItemCaseSensitive(facts, "link_domains"), *l;
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(spec, "envelope_sender");
	const struct mb_send_row *first_fail = NULL;
	char **recipients = NULL;
	size_t n_recipients = 0;

	fprintf(out, "## Scope\n\n- Affected recipient domain: ");
	put_cell(out, d->run.domain);
	fputs("\n- Recipients: ", out);
	for (size_t i = 0; i < d->n_sends; i++) {
		bool seen = false;
		for (size_t k = 0; k < n_recipients && !seen; k++)
			seen = !strcmp(recipients[k], d->sends[i].recipient);
		if (!seen) {
			char **grown = realloc(recipients, (n_recipients + 1) * sizeof *recipients);
			if (!grown)
				break;
			recipients = grown;
			recipients[n_recipients++] = d->sends[i].recipient;
			fputs(n_recipients > 1 ? ", " : "", out);
			put_cell(out, d->sends[i].recipient);
		}
		if (!first_fail && is_fail_state(d->sends[i].state))
			first_fail = &d->sends[i];
	}
	free(recipients);
	fputs("\n- From: ", out);
	put_code(out, facts_str(facts, "from"));
	fputs(" (domain ", out);
	put_cell(out, facts_str(facts, "from_domain"));
	fputs(")\n- Envelope sender: ", out);
	put_code(out, cJSON_IsString(env) ? env->valuestring : NULL);
	if (cJSON_IsString(env) && strchr(env->valuestring, '@')) {
		fputs(" (domain ", out);
		put_cell(out, strrchr(env->valuestring, '@') + 1);
		fputc(')', out);
	}
	fputs("\n- Subject: ", out);
	put_cell(out, facts_str(facts, "subject"));
	fputs("\n- Link domains in the message: ", out);
	if (!cJSON_GetArraySize(links))
		fputs("none", out);
	int k = 0;
	cJSON_ArrayForEach(l, links)
	{
		if (!cJSON_IsString(l))
			continue;
		fputs(k++ ? ", " : "", out);
		put_cell(out, l->valuestring);
	}
	fputs("\n- First refusal: ", out);
	if (first_fail) {
		put_cell(out,
		         first_fail->resolved_at ? first_fail->resolved_at : first_fail->sent_at);
		fprintf(out, " (send %d, %s through %s)", first_fail->seq, first_fail->variant,
		        first_fail->pool);
	} else {
		fputs("none in this run", out);
	}
	fputs("\n- IP addresses named in the receiver's replies: ", out);
	if (!n_ips)
		fputs("none", out);
	for (size_t i = 0; i < n_ips; i++)
		fprintf(out, "%s%s", i ? ", " : "", ips[i]);
	fputs("\n\n", out);
}

static void put_send(FILE *out, const struct mb_send_row *r, const cJSON *spec)
{
	char relay[300];

	fprintf(out, "### Send %d: %s through %s — %s\n\n", r->seq, r->variant, r->pool,
	        mb_state_name(r->state));
	if (r->bisect && strchr(r->bisect, '|')) {
		fputs("- Link-domain bisection: without links to ", out);
		put_cell(out, strchr(r->bisect, '|') + 1);
		fputc('\n', out);
	}
	fputs("- Message-ID: ", out);
	put_code(out, r->message_id);
	fputs("\n- Recipient: ", out);
	put_code(out, r->recipient);
	fputs("\n- Envelope sender: ", out);
	put_code(out, r->envelope_from);
	fputs("\n- ENVID: ", out);
	put_code(out, r->key);
	pool_relay(spec, r->pool, relay, sizeof relay);
	fputs("\n- Relay: ", out);
	put_code(out, r->relay ? r->relay : relay);
	if (r->queue_id) {
		fputs(", queue id ", out);
		put_code(out, r->queue_id);
	}
	fputs("\n- Sent: ", out);
	put_cell(out, r->sent_at);
	fputs("; outcome recorded: ", out);
	put_cell(out, r->resolved_at);
	fputs("\n- Outcome: ", out);
	fputs(mb_state_name(r->state), out);
	if (r->stage != MB_STAGE_UNKNOWN)
		fprintf(out, " at %s", mb_stage_name(r->stage));
	if (r->smtp_code)
		fprintf(out, ", %d", r->smtp_code);
	if (r->enhanced_status) {
		fputs(" ", out);
		put_cell(out, r->enhanced_status);
	}
	if (r->source != MB_SOURCE_NONE)
		fprintf(out, " (from %s", mb_source_name(r->source));
	if (r->source != MB_SOURCE_NONE && r->matched_by)
		fprintf(out, ", matched by %s", r->matched_by);
	if (r->source != MB_SOURCE_NONE)
		fputc(')', out);
	if (r->reason)
		fprintf(out, "; classified %s, %s", r->reason, mb_fault_name(r->fault));
	if (r->remote_mta) {
		fputs("\n- Remote MTA: ", out);
		put_code(out, r->remote_mta);
	}
	fputs("\n", out);
	if (r->diagnostic) {
		fputs("- Reply, in full:\n\n", out);
		put_fenced(out, r->diagnostic);
		fputc('\n', out);
	}
	/* the relay's own words matter when it, not the receiver, stopped the message */
	if ((r->state == MB_STATE_SUBMIT_REFUSED || r->state == MB_STATE_ERROR) && r->relay_reply &&
	    (!r->diagnostic || strcmp(r->relay_reply, r->diagnostic) != 0)) {
		fputs("- Our relay's reply:\n\n", out);
		put_fenced(out, r->relay_reply);
		fputc('\n', out);
	}
	if (!r->diagnostic && !r->relay_reply)
		fputc('\n', out);
}

int mb_report_ticket(struct mb_store *store, int64_t run_id, FILE *out, struct mb_err *err)
{
	struct mb_report_data d;
	const struct mb_verdict *v;
	cJSON *facts, *spec;
	char **ips = NULL;
	size_t n_ips = 0;
	int rc = mb_report_data_load(store, run_id, &d, err);

	if (rc)
		return rc;
	v = &d.verdict;
	facts = d.run.facts_json ? cJSON_Parse(d.run.facts_json) : NULL;
	spec = cJSON_Parse(d.run.spec_json);
	for (size_t i = 0; i < d.n_sends; i++)
		if (is_fail_state(d.sends[i].state))
			collect_ips(d.sends[i].diagnostic, &ips, &n_ips);

	fputs("# Refused mail to ", out);
	put_cell(out, d.run.domain);
	fprintf(out, ": verdict %s", v->fault);
	if (v->detail)
		fprintf(out, " (%s)", v->detail);
	fputs("\n\n", out);
	fprintf(out, "mailbisect run %lld (", (long long)d.run.id);
	put_cell(out, d.run.name);
	fputs(") resent the refused message in controlled variants through our pools and "
	      "recorded what the receiver did with each. Started ",
	      out);
	put_cell(out, d.run.created_at);
	fputs(", finished ", out);
	put_cell(out, d.run.finished_at);
	fprintf(out, " (%s).\n\n", d.run.status);

	fprintf(out, "## Verdict\n\n- Fault: **%s**", v->fault);
	if (v->detail)
		fprintf(out, ", detail %s", v->detail);
	if (v->link_domain) {
		fputs(", refused link domain ", out);
		put_code(out, v->link_domain);
	}
	if (v->relation)
		fprintf(out, ", %s", v->relation);
	fputc('\n', out);
	if (v->confidence > 0)
		fprintf(out, "- Confidence: %.2f%s\n", v->confidence,
		        v->unconfirmed ? " (unconfirmed)" : "");
	fputs("- ", out);
	put_cell(out, v->summary);
	fputs("\n\n", out);

	put_questions(out, &d, ips, n_ips);
	put_scope(out, &d, facts, spec, ips, n_ips);

	fputs("## Evidence\n\n| # | variant | pool | recipient | outcome | stage | code | status | "
	      "sent |\n|---|---|---|---|---|---|---|---|---|\n",
	      out);
	for (size_t i = 0; i < d.n_sends; i++) {
		const struct mb_send_row *r = &d.sends[i];
		fprintf(out, "| %d | ", r->seq);
		put_cell(out, r->variant);
		fputs(" | ", out);
		put_cell(out, r->pool);
		fputs(" | ", out);
		put_cell(out, r->recipient);
		fprintf(out, " | %s | %s | ", mb_state_name(r->state),
		        r->stage != MB_STAGE_UNKNOWN ? mb_stage_name(r->stage) : "—");
		if (r->smtp_code)
			fprintf(out, "%d", r->smtp_code);
		else
			fputs("—", out);
		fputs(" | ", out);
		put_cell(out, r->enhanced_status);
		fputs(" | ", out);
		put_cell(out, r->sent_at);
		fputs(" |\n", out);
	}
	fputc('\n', out);
	for (size_t i = 0; i < d.n_sends; i++)
		put_send(out, &d.sends[i], spec);

	for (size_t i = 0; i < n_ips; i++)
		free(ips[i]);
	free(ips);
	cJSON_Delete(facts);
	cJSON_Delete(spec);
	mb_report_data_clear(&d);
	if (ferror(out))
		return mb_err_set(err, MB_EIO, "cannot write the ticket");
	return 0;
}
