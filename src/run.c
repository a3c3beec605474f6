/* Experiment execution: plan, journal, submit, collect, conclude. Nothing is sent until the
 * message, every variant, every secret, each transport and the bounce mailbox have been
 * checked; each send is journaled before it leaves. */
#include "mailbisect/run.h"
#include "mailbisect/buf.h"
#include "mailbisect/clock.h"
#include "mailbisect/collect.h"
#include "mailbisect/imap.h"
#include "mailbisect/net.h"
#include "mailbisect/report.h"
#include "mailbisect/str.h"
#include "mailbisect/transport.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Everything a run holds while it executes; freed by run_ctx_clear. */
/* Set when a pool's relay refused us in a way no other message would change (login, sender,
 * connection, TLS): the rest of that pool's sends are not tried, so a wrong password is not
 * hammered into an account lockout in the middle of an incident. */
struct pool_failure {
	char *why; /* NULL while the pool is fine */
	enum mb_state state;
};

struct run_ctx {
	const struct mb_spec *spec;
	struct mb_store *store;
	const struct mb_run_opts *opts;
	struct mb_message *msg;
	struct mb_message_traits traits;
	char **link_domains; /* of the message under test */
	char *primary_password;
	char *alternate_password;
	char *mailbox_password;
	struct mb_imap *imap;
	struct mb_planned_send *plan;
	size_t n_plan;
	int64_t run_id;
	char *token;
	struct pool_failure primary_failed;
	struct pool_failure alternate_failed;
};

int mb_run_plan(const struct mb_spec *spec, struct mb_planned_send **out, size_t *n,
                struct mb_err *err)
{
	long total = mb_spec_planned_sends(spec);
	struct mb_planned_send *plan;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (total <= 0 || total > spec->max_messages)
		return mb_err_set(err, MB_ECONFIG,
		                  "%s: plan needs %ld sends but max_messages is %ld",
		                  spec->path ? spec->path : "spec", total, spec->max_messages);
	plan = calloc((size_t)total, sizeof *plan);
	if (!plan)
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	for (long r = 0; r < spec->repeat; r++)
		for (size_t i = 0; i < spec->n_recipients; i++)
			for (size_t v = 0; v < spec->n_variants; v++) {
				struct mb_planned_send *p = &plan[k++];
				p->seq = (int)k;
				p->variant = spec->variants[v];
				p->pool = mb_variant_uses_alternate_pool(p->variant)
				              ? &spec->alternate
				              : &spec->primary;
				p->recipient = spec->recipients[i];
			}
	*out = plan;
	*n = k;
	return 0;
}

const char *mb_run_variant_from(const struct mb_spec *spec, enum mb_variant v)
{
	return v == MB_VARIANT_ALTERNATE_DOMAIN ? spec->alternate_from : NULL;
}

const char *mb_run_envelope_template(const struct mb_spec *spec, enum mb_variant v)
{
	return v == MB_VARIANT_ALTERNATE_DOMAIN ? spec->alternate_envelope_sender
	                                        : spec->envelope_sender;
}

char *mb_run_envelope_sender(const char *template, const char *key)
{
	const char *mark = strstr(template, "{send}");
	struct mb_buf b = MB_BUF_INIT;

	if (!mark)
		return strdup(template);
	if (mb_buf_append(&b, template, (size_t)(mark - template)) || mb_buf_puts(&b, key) ||
	    mb_buf_puts(&b, mark + strlen("{send}"))) {
		mb_buf_free(&b);
		return NULL;
	}
	return mb_buf_steal(&b);
}

static void run_ctx_clear(struct run_ctx *c)
{
	mb_message_free(c->msg);
	mb_strv_free(c->link_domains);
	free(c->primary_password);
	free(c->alternate_password);
	free(c->mailbox_password);
	free(c->primary_failed.why);
	free(c->alternate_failed.why);
	mb_imap_close(c->imap);
	for (size_t i = 0; c->plan && i < c->n_plan; i++)
		free(c->plan[i].bisect);
	free(c->plan);
	free(c->token);
}

static bool plan_uses_alternate(const struct run_ctx *c)
{
	for (size_t i = 0; i < c->n_plan; i++)
		if (c->plan[i].pool == &c->spec->alternate)
			return true;
	return false;
}

/* Builds one variant with a throwaway Message-ID: catches builder errors before any send. */
static int check_variants(struct run_ctx *c, struct mb_err *err)
{
	for (size_t v = 0; v < c->spec->n_variants; v++) {
		struct mb_buf out = MB_BUF_INIT;
		struct mb_variant_opts vo = {"<check@mailbisect.invalid>", 0,
		                             mb_run_variant_from(c->spec, c->spec->variants[v])};
		int rc = mb_variant_build(c->msg, c->spec->variants[v], &vo, &out, err);
		mb_buf_free(&out);
		if (rc)
			return mb_err_prefix(err,
			                     "variant %s: ", mb_variant_name(c->spec->variants[v]));
	}
	return 0;
}

/* The alternate domain must differ from the message's own, or the variant tests nothing. */
static int check_alternate_domain(struct run_ctx *c, struct mb_err *err)
{
	const char *from = mb_message_from(c->msg);
	const char *mine = from ? mb_addr_domain(from) : NULL;
	const char *alt =
	    c->spec->has_alternate_domain ? mb_addr_domain(c->spec->alternate_from) : NULL;
	if (alt && mine && mb_str_ieq(alt, mine))
		return mb_err_set(err, MB_ECONFIG,
		                  "%s: alternate_domain.from: %s is the message's own From domain; "
		                  "the alternate-domain variant would test nothing",
		                  c->spec->path ? c->spec->path : "spec", alt);
	return 0;
}

/* The pool's transport exists and its relay would take our mail (connection, TLS, login, as
 * the transport's check sees them without sending): a relay that cannot work stops the run
 * before any send, instead of after the primary pool's sends have gone out. */
static int check_transport(const struct mb_pool_spec *pool, const char *which, const char *password,
                           struct mb_err *err)
{
	const struct mb_transport_ops *t = mb_transport_find(pool->transport);
	int rc;

	if (!t)
		return mb_err_set(err, MB_ECONFIG, "pools.%s.transport: unknown transport \"%s\"",
		                  which, pool->transport);
	rc = t->check ? t->check(pool, password, err)
	              : mb_net_probe(pool->host, pool->port, pool->timeout_seconds * 1000, err);
	if (rc)
		return mb_err_prefix(err, "pools.%s (%s): ", which, pool->name);
	return 0;
}

/* Everything that can fail without sending: message, variants, secrets, transports, mailbox. */
static int prepare_run(struct run_ctx *c, struct mb_err *err)
{
	const struct mb_spec *s = c->spec;
	int rc;

	/* secrets first: a local mistake must not cost a connection to anyone */
	if ((rc = mb_spec_check_secrets(s, err)))
		return rc;
	if ((rc = mb_message_load(&c->msg, s->message_path, err)))
		return rc;
	if ((rc = mb_message_link_domains(c->msg, &c->link_domains, err)))
		return rc;
	c->traits.has_links = c->link_domains && c->link_domains[0];
	c->traits.has_html = mb_message_has_html(c->msg);
	c->traits.has_attachments = mb_message_has_attachments(c->msg);
	if ((rc = check_alternate_domain(c, err)) || (rc = check_variants(c, err)))
		return rc;
	if ((rc = mb_run_plan(s, &c->plan, &c->n_plan, err)))
		return rc;
	/* both pools' secrets before either relay is contacted: the checks log in with them */
	if (s->primary.auth_user &&
	    (rc = mb_secret_resolve(&s->primary.auth_password, "pools.primary.auth",
	                            &c->primary_password, err)))
		return rc;
	if (plan_uses_alternate(c) && s->alternate.auth_user &&
	    (rc = mb_secret_resolve(&s->alternate.auth_password, "pools.alternate.auth",
	                            &c->alternate_password, err)))
		return rc;
	if ((rc = check_transport(&s->primary, "primary", c->primary_password, err)))
		return rc;
	if (plan_uses_alternate(c) &&
	    (rc = check_transport(&s->alternate, "alternate", c->alternate_password, err)))
		return rc;
	if (s->has_mailbox) {
		struct mb_collect_stats stats;
		if ((rc = mb_secret_resolve(&s->mailbox.password, "mailbox", &c->mailbox_password,
		                            err)))
			return rc;
		if ((rc = mb_imap_open(&c->imap, s->mailbox.url, s->mailbox.user,
		                       c->mailbox_password, 30, err)))
			return rc;
		/* a first pass proves the mailbox works and catches the cursor up */
		if ((rc = mb_collect_pass(c->store, c->imap, s->mailbox.url, s->mailbox.user,
		                          &stats, err)))
			return rc;
	}
	return 0;
}

static int load_obs(struct mb_store *store, int64_t run_id, struct mb_send_row **rows,
                    struct mb_verdict_obs **obs, size_t *n, size_t *n_obs, struct mb_err *err);
static int bisection_state(const struct mb_send_row *rows, size_t n, char ***remaining, int *steps);

static unsigned factor_bits(const struct mb_factors *f)
{
	return (f->primary_pool ? MB_FACTOR_PRIMARY_POOL : 0) | (f->links ? MB_FACTOR_LINKS : 0) |
	       (f->template ? MB_FACTOR_TEMPLATE : 0) |
	       (f->primary_domain ? MB_FACTOR_PRIMARY_DOMAIN : 0);
}

static int make_key(const struct run_ctx *c, int seq, char *out, size_t size)
{
	return snprintf(out, size, "%s-%d", c->token, seq) < (int)size ? 0 : -1;
}

static char *make_message_id(const char *key, const char *envelope)
{
	const char *domain = mb_addr_domain(envelope);
	struct mb_buf b = MB_BUF_INIT;
	if (mb_buf_printf(&b, "<mailbisect.%s@%s>", key, domain ? domain : "mailbisect.invalid")) {
		mb_buf_free(&b);
		return NULL;
	}
	return mb_buf_steal(&b);
}

/* Journals one send (phase planned) with its point in factor space. */
static int journal_send(struct run_ctx *c, const struct mb_planned_send *p,
                        const struct mb_factors *f, struct mb_err *err)
{
	struct mb_send_row row = {0};
	char key[64];
	int64_t id;
	int rc;

	if (make_key(c, p->seq, key, sizeof key))
		return mb_err_set(err, MB_ESOFTWARE, "send key too long");
	row.run_id = c->run_id;
	row.seq = p->seq;
	row.key = key;
	row.variant = (char *)mb_variant_name(p->variant);
	row.pool = p->pool->name;
	row.recipient = (char *)p->recipient;
	row.envelope_from =
	    mb_run_envelope_sender(mb_run_envelope_template(c->spec, p->variant), key);
	row.message_id = row.envelope_from ? make_message_id(key, row.envelope_from) : NULL;
	row.factors = factor_bits(f) | (p->bisect ? MB_FACTOR_BISECT : 0);
	row.bisect = p->bisect;
	if (!row.envelope_from || !row.message_id)
		rc = mb_err_set(err, MB_ENOMEM, "out of memory");
	else
		rc = mb_store_send_plan(c->store, &row, &id, err);
	free(row.envelope_from);
	free(row.message_id);
	return rc;
}

/* Creates the run and journals every planned send in one transaction. */
static int journal_plan(struct run_ctx *c, struct mb_err *err)
{
	const struct mb_spec *s = c->spec;
	char *spec_json = NULL;
	int rc;

	if (mb_spec_to_json(s, &spec_json))
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	if ((rc = mb_store_begin(c->store, err))) {
		free(spec_json);
		return rc;
	}
	rc = mb_store_run_create(c->store, s->name, s->path, spec_json, s->domain, &c->run_id,
	                         &c->token, err);
	free(spec_json);
	for (size_t i = 0; i < c->n_plan && !rc; i++) {
		struct mb_factors f = mb_verdict_factors(c->plan[i].variant, &c->traits);
		rc = journal_send(c, &c->plan[i], &f, err);
	}
	if (!rc) {
		char *facts = mb_report_facts_json(c->msg, c->link_domains);
		rc = facts ? mb_store_run_set_facts(c->store, c->run_id, facts, err)
		           : mb_err_set(err, MB_ENOMEM, "out of memory");
		free(facts);
	}
	if (rc) {
		mb_store_rollback(c->store);
		c->run_id = 0;
		return rc;
	}
	return mb_store_commit(c->store, err);
}

static const char *pool_password(const struct run_ctx *c, const struct mb_pool_spec *pool)
{
	return pool == &c->spec->alternate ? c->alternate_password : c->primary_password;
}

/* "a.example,b.example" -> NULL-terminated array (mb_strv_free); "" gives an empty one. */
static int split_hosts(const char *list, char ***out)
{
	size_t n = 1, k = 0;
	char **v;
	for (const char *p = list; *p; p++)
		n += *p == ',';
	*out = NULL;
	if (!(v = calloc(n + 1, sizeof *v)))
		return MB_ENOMEM;
	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len && !(v[k++] = mb_strndup(p, len))) {
			mb_strv_free(v);
			return MB_ENOMEM;
		}
		p += len + (end ? 1 : 0);
	}
	*out = v;
	return 0;
}

/* Appends v[from..to) comma-separated. */
static int join_hosts(struct mb_buf *b, char *const *v, size_t from, size_t to)
{
	int rc = 0;
	for (size_t i = from; i < to && !rc; i++)
		rc = mb_buf_printf(b, "%s%s", i > from ? "," : "", v[i]);
	return rc;
}

static struct pool_failure *pool_failed(struct run_ctx *c, const struct mb_pool_spec *pool)
{
	return pool == &c->spec->alternate ? &c->alternate_failed : &c->primary_failed;
}

/* True when the answer says the relay will refuse every message of this pool alike: it
 * refused us before the message itself was looked at (connect, EHLO, AUTH, MAIL FROM, RCPT
 * at our own relay), or we could not talk to it at all (connection, TLS). */
static bool pool_wide_failure(const struct mb_send_result *res)
{
	if (res->state == MB_STATE_SUBMIT_REFUSED)
		return res->stage != MB_STAGE_DATA;
	if (res->state == MB_STATE_ERROR)
		return res->stage == MB_STAGE_CONNECT || res->stage == MB_STAGE_HELO ||
		       res->stage == MB_STAGE_AUTH || res->stage == MB_STAGE_UNKNOWN;
	return false;
}

static int note_pool_failure(struct run_ctx *c, const struct mb_planned_send *p,
                             const struct mb_send_row *row, const struct mb_send_result *res,
                             struct mb_err *err)
{
	struct pool_failure *f = pool_failed(c, p->pool);
	struct mb_buf why = MB_BUF_INIT;

	if (mb_buf_printf(&why, "send %s: %s at %s: %s", row->key, mb_state_name(res->state),
	                  mb_stage_name(res->stage), res->text ? res->text : ""))
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	free(f->why);
	f->why = mb_buf_steal(&why);
	f->state = res->state;
	fprintf(stderr, "%smailbisect: pool %s: %s; its other sends are not tried\n",
	        c->opts->progress ? "\n" : "", p->pool->name, f->why);
	return 0;
}

/* Records a send that is not tried because its pool already failed pool-wide. */
static int skip_one(struct run_ctx *c, const struct mb_planned_send *p,
                    const struct mb_send_row *row, struct mb_err *err)
{
	const struct pool_failure *f = pool_failed(c, p->pool);
	struct mb_buf text = MB_BUF_INIT;
	int rc;

	if (mb_buf_printf(&text, "not sent: pool %s failed earlier in this run (%s)", p->pool->name,
	                  f->why))
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	rc = mb_store_send_submitted(c->store, row->id, f->state, MB_STAGE_UNKNOWN, 0, "",
	                             text.data, NULL, NULL, err);
	mb_buf_free(&text);
	return rc;
}

/* Submits one journaled send and records the transport's answer. */
static int submit_one(struct run_ctx *c, const struct mb_planned_send *p,
                      const struct mb_send_row *row, struct mb_err *err)
{
	const struct mb_transport_ops *t = mb_transport_find(p->pool->transport);
	struct mb_variant_opts vo = {row->message_id, 0, mb_run_variant_from(c->spec, p->variant)};
	struct mb_envelope env = {row->envelope_from, row->recipient, row->key, true};
	struct mb_send_result res = {0};
	struct mb_buf msg = MB_BUF_INIT;
	int rc;

	if (p->bisect) {
		char **strip = NULL;
		if ((rc = split_hosts(strchr(p->bisect, '|') ? strchr(p->bisect, '|') + 1 : "",
		                      &strip)))
			return mb_err_set(err, rc, "out of memory");
		rc = mb_variant_build_strip_hosts(c->msg, strip, &vo, &msg, err);
		mb_strv_free(strip);
	} else {
		rc = mb_variant_build(c->msg, p->variant, &vo, &msg, err);
	}
	if (rc)
		return rc;
	if ((rc = mb_store_send_set_phase(c->store, row->id, MB_PHASE_SUBMITTING, err))) {
		mb_buf_free(&msg);
		return rc;
	}
	rc = t->send(p->pool, pool_password(c, p->pool), &env, msg.data, msg.len, &res, err);
	mb_buf_free(&msg);
	if (rc)
		return rc;
	rc = mb_store_send_submitted(c->store, row->id, res.state, res.stage, res.code,
	                             res.enhanced, res.text, res.relay, res.queue_id, err);
	if (!rc && pool_wide_failure(&res))
		rc = note_pool_failure(c, p, row, &res, err);
	mb_send_result_clear(&res);
	return rc;
}

static bool stopped(const struct run_ctx *c)
{
	return c->opts->stop && *c->opts->stop;
}

/* Counts sends whose outcome is settled (anything but pending and deferred). */
static int count_resolved(struct run_ctx *c, size_t *resolved, size_t *total, struct mb_err *err)
{
	struct mb_send_row *rows;
	size_t n;
	int rc = mb_store_sends_list(c->store, c->run_id, &rows, &n, err);
	if (rc)
		return rc;
	*resolved = 0;
	for (size_t i = 0; i < n; i++)
		if (mb_state_is_final(rows[i].state))
			(*resolved)++;
	*total = n;
	mb_store_send_rows_free(rows, n);
	return 0;
}

static void progress(const struct run_ctx *c, size_t resolved, size_t total, int64_t left_ms)
{
	if (!c->opts->progress)
		return;
	fprintf(stderr, "\rmailbisect: %zu/%zu sends resolved, %lds left in the window   ",
	        resolved, total, (long)((left_ms + 999) / 1000));
	fflush(stderr);
}

static int collect_once(struct run_ctx *c, struct mb_err *err)
{
	struct mb_collect_stats stats;
	if (!c->imap)
		return 0;
	return mb_collect_pass(c->store, c->imap, c->spec->mailbox.url, c->spec->mailbox.user,
	                       &stats, err);
}

/* Sleeps ms while reading the mailbox at its poll interval. */
static int wait_collecting(struct run_ctx *c, int64_t ms, struct mb_err *err)
{
	int64_t end = mb_clock_monotonic_ms() + ms;
	int64_t poll = c->spec->has_mailbox ? c->spec->mailbox.poll_interval_ms : ms;
	while (!stopped(c)) {
		int64_t now = mb_clock_monotonic_ms();
		int rc;
		if (now >= end)
			break;
		mb_clock_sleep_ms(end - now < poll ? end - now : poll, c->opts->stop);
		if ((rc = collect_once(c, err)))
			return rc;
	}
	return 0;
}

static int send_all(struct run_ctx *c, struct mb_err *err)
{
	struct mb_send_row *rows;
	size_t n;
	int rc = mb_store_sends_list(c->store, c->run_id, &rows, &n, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && i < c->n_plan && !rc && !stopped(c); i++) {
		if (rows[i].phase != MB_PHASE_PLANNED)
			continue;
		if (pool_failed(c, c->plan[i].pool)->why) {
			rc = skip_one(c, &c->plan[i], &rows[i], err);
			continue;
		}
		if (i > 0 && (rc = wait_collecting(c, c->spec->pacing_ms, err)))
			break;
		if (stopped(c))
			break;
		rc = submit_one(c, &c->plan[i], &rows[i], err);
		progress(c, 0, n, c->spec->window_seconds * 1000);
	}
	mb_store_send_rows_free(rows, n);
	return rc;
}

/* Reads the mailbox until every send is settled or the window closes. */
static int collect_window(struct run_ctx *c, struct mb_err *err)
{
	int64_t end = mb_clock_monotonic_ms() + c->spec->window_seconds * 1000;
	size_t resolved = 0, total = 0;
	int rc, changed;

	for (;;) {
		if ((rc = collect_once(c, err)) || (rc = count_resolved(c, &resolved, &total, err)))
			return rc;
		int64_t left = end - mb_clock_monotonic_ms();
		progress(c, resolved, total, left > 0 ? left : 0);
		if (resolved == total || left <= 0 || stopped(c) || !c->imap)
			break;
		mb_clock_sleep_ms(left < c->spec->mailbox.poll_interval_ms
		                      ? left
		                      : c->spec->mailbox.poll_interval_ms,
		                  c->opts->stop);
	}
	if (!c->imap && !stopped(c)) {
		int64_t left = end - mb_clock_monotonic_ms();
		mb_clock_sleep_ms(left, c->opts->stop);
	}
	if (c->opts->progress)
		fputc('\n', stderr);
	if (stopped(c))
		return 0;
	return mb_collect_close_window(c->store, c->run_id, &changed, err);
}

/* Adds one follow-up send to the plan and the journal; *added is false when none is worth it. */
static int plan_followup(struct run_ctx *c, bool *added, struct mb_err *err)
{
	struct mb_send_row *rows;
	struct mb_verdict_obs *obs;
	struct mb_followup f;
	struct mb_planned_send *grown, *p;
	size_t n, n_obs;
	bool want;
	int rc = load_obs(c->store, c->run_id, &rows, &obs, &n, &n_obs, err);

	*added = false;
	if (rc)
		return rc;
	want = mb_verdict_next_followup(obs, n_obs, &c->traits, plan_uses_alternate(c),
	                                c->spec->has_alternate_domain, &f);
	free(obs);
	mb_store_send_rows_free(rows, n);
	if (!want)
		return 0;
	grown = realloc(c->plan, (c->n_plan + 1) * sizeof *c->plan);
	if (!grown)
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	c->plan = grown;
	p = &c->plan[c->n_plan];
	p->seq = (int)c->n_plan + 1;
	p->variant = f.variant;
	p->pool = f.alternate_pool ? &c->spec->alternate : &c->spec->primary;
	p->recipient = c->spec->recipients[0];
	p->bisect = NULL;
	if ((rc = mb_store_begin(c->store, err)))
		return rc;
	if ((rc = journal_send(c, p, &f.factors, err))) {
		mb_store_rollback(c->store);
		return rc;
	}
	if ((rc = mb_store_commit(c->store, err)))
		return rc;
	c->n_plan++;
	*added = true;
	if (c->opts->progress)
		fprintf(stderr, "\nmailbisect: follow-up send %d: %s through %s\n", p->seq,
		        mb_variant_name(p->variant), p->pool->name);
	return 0;
}

/* While explanations remain that one more send would separate, within the caps. */
static int run_followups(struct run_ctx *c, struct mb_err *err)
{
	for (long done = 0; done < c->spec->followups && !stopped(c); done++) {
		bool added;
		int rc;
		if ((long)c->n_plan >= c->spec->max_messages)
			break;
		if ((rc = plan_followup(c, &added, err)) || !added)
			return rc;
		if ((rc = send_all(c, err)) || (rc = collect_window(c, err)))
			return rc;
	}
	return 0;
}

static int finish(struct run_ctx *c, const char *status, struct mb_err *err)
{
	struct mb_verdict v;
	char *json;
	int rc = mb_run_verdict(c->store, c->run_id, &v, err);
	if (rc)
		return rc;
	json = mb_report_verdict_json(&v);
	mb_verdict_clear(&v);
	if (!json)
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	rc = mb_store_run_finish(c->store, c->run_id, status, json, err);
	free(json);
	return rc;
}

/* Which pool tells the link domains apart: the one where a message without links passes and
 * one with links is refused. "either-enough" with the pool means only the alternate pool can;
 * "both-needed" means only the primary can. */
static const struct mb_pool_spec *bisection_pool(struct run_ctx *c, const struct mb_verdict *v)
{
	if (!v->detail || strcmp(v->detail, "links") != 0 || v->unconfirmed)
		return NULL;
	if (!strcmp(v->fault, "content"))
		return &c->spec->primary;
	if (!strcmp(v->fault, "ip+content") && v->relation) {
		if (!strcmp(v->relation, "both-needed"))
			return &c->spec->primary;
		return plan_uses_alternate(c) ? &c->spec->alternate : NULL;
	}
	return NULL;
}

/* Link-domain bisection (DESIGN.md, "Which link"): while more than one link domain is suspect,
 * send links-stripped restricted to half of them. Within max_messages; each step waits for its
 * outcome. */
static int run_bisection(struct run_ctx *c, struct mb_err *err)
{
	size_t n_hosts = 0;
	while (c->link_domains && c->link_domains[n_hosts])
		n_hosts++;
	if (n_hosts < 2)
		return 0;
	while (!stopped(c) && (long)c->n_plan < c->spec->max_messages) {
		struct mb_send_row *rows;
		struct mb_verdict v;
		const struct mb_pool_spec *pool;
		char **suspects = NULL;
		size_t n, n_suspects = 0;
		int steps, rc;
		struct mb_buf step = MB_BUF_INIT;
		struct mb_planned_send *grown, *p;
		struct mb_factors f;

		if ((rc = mb_run_verdict(c->store, c->run_id, &v, err)))
			return rc;
		pool = bisection_pool(c, &v);
		mb_verdict_clear(&v);
		if (!pool)
			return 0;
		if ((rc = mb_store_sends_list(c->store, c->run_id, &rows, &n, err)))
			return rc;
		rc = bisection_state(rows, n, &suspects, &steps);
		/* a step still without evidence: stop rather than guess */
		for (size_t i = 0; !rc && i < n; i++)
			if ((rows[i].factors & MB_FACTOR_BISECT) &&
			    !mb_state_is_final(rows[i].state))
				rc = 1;
		mb_store_send_rows_free(rows, n);
		if (rc) {
			mb_strv_free(suspects);
			return rc == 1 ? 0 : mb_err_set(err, rc, "out of memory");
		}
		if (!suspects && steps == 0) {
			if (!(suspects = calloc(n_hosts + 1, sizeof *suspects)))
				return mb_err_set(err, MB_ENOMEM, "out of memory");
			for (size_t i = 0; i < n_hosts; i++)
				if (!(suspects[i] = mb_strdup(c->link_domains[i]))) {
					mb_strv_free(suspects);
					return mb_err_set(err, MB_ENOMEM, "out of memory");
				}
		}
		while (suspects && suspects[n_suspects])
			n_suspects++;
		if (n_suspects < 2) {
			mb_strv_free(suspects);
			return 0;
		}
		rc = join_hosts(&step, suspects, 0, n_suspects) || mb_buf_putc(&step, '|') ||
		     join_hosts(&step, suspects, 0, n_suspects / 2);
		mb_strv_free(suspects);
		if (rc || !(grown = realloc(c->plan, (c->n_plan + 1) * sizeof *c->plan))) {
			mb_buf_free(&step);
			return mb_err_set(err, MB_ENOMEM, "out of memory");
		}
		c->plan = grown;
		p = &c->plan[c->n_plan];
		p->seq = (int)c->n_plan + 1;
		p->variant = MB_VARIANT_LINKS_STRIPPED;
		p->pool = pool;
		p->recipient = c->spec->recipients[0];
		p->bisect = mb_buf_steal(&step);
		if (!p->bisect)
			return mb_err_set(err, MB_ENOMEM, "out of memory");
		f = mb_verdict_factors(MB_VARIANT_ORIGINAL, &c->traits);
		f.primary_pool = pool == &c->spec->primary;
		if ((rc = mb_store_begin(c->store, err)))
			return rc;
		if ((rc = journal_send(c, p, &f, err))) {
			mb_store_rollback(c->store);
			free(p->bisect);
			return rc;
		}
		if ((rc = mb_store_commit(c->store, err)))
			return rc;
		c->n_plan++;
		if (c->opts->progress)
			fprintf(stderr, "\nmailbisect: bisection send %d: without links to %s\n",
			        p->seq, strchr(p->bisect, '|') + 1);
		if ((rc = send_all(c, err)) || (rc = collect_window(c, err)))
			return rc;
	}
	return 0;
}

/* This process, as "PID:START" (START: its start time in clock ticks since boot, from
 * /proc/PID/stat, so that a reused PID is not taken for the process that died). */
static int process_identity(long pid, char *out, size_t size)
{
	char path[64], buf[1024], *close_paren;
	unsigned long long start = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* field 22 (starttime), counted after the command name's closing parenthesis */
	if (!(close_paren = strrchr(buf, ')')) ||
	    sscanf(close_paren + 2,
	           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
	           "%*d %*d %*d %*d %llu",
	           &start) != 1)
		return -1;
	snprintf(out, size, "%ld:%llu", pid, start);
	return 0;
}

/* The live process that carries out run_id, as its "PID:START" in owner (a copy of the
 * store's record), or false. */
static bool run_owner_alive(const char *owner)
{
	char other[64];
	long pid;
	return owner && sscanf(owner, "%ld:", &pid) == 1 &&
	       process_identity(pid, other, sizeof other) == 0 && strcmp(other, owner) == 0;
}

int mb_run_status_settle(struct mb_store *store, struct mb_run_row *row)
{
	struct mb_err ignored = MB_ERR_INIT;
	char key[64], *owner = NULL, *status;
	bool gone;

	if (!row->status || strcmp(row->status, "running") != 0)
		return 0;
	snprintf(key, sizeof key, "run.%lld.owner", (long long)row->id);
	if (mb_store_meta_get(store, key, &owner, &ignored))
		return 0;
	/* no owner yet: the run is being set up */
	gone = owner && !run_owner_alive(owner);
	free(owner);
	if (!gone)
		return 0;
	if (!(status = mb_strdup("interrupted")))
		return MB_ENOMEM;
	free(row->status);
	row->status = status;
	return 0;
}

/* Takes a run for this process: refused while another live process carries it out (a second
 * `resume` beside a running run would send its planned sends twice). */
static int claim_run(struct run_ctx *c, struct mb_err *err)
{
	char key[64], self[64], *owner = NULL;
	long pid = 0;
	int rc;

	snprintf(key, sizeof key, "run.%lld.owner", (long long)c->run_id);
	if (process_identity((long)getpid(), self, sizeof self))
		snprintf(self, sizeof self, "%ld:0", (long)getpid());
	if ((rc = mb_store_begin(c->store, err)))
		return rc;
	rc = mb_store_meta_get(c->store, key, &owner, err);
	if (!rc && owner && sscanf(owner, "%ld:", &pid) == 1 && strcmp(owner, self) != 0 &&
	    run_owner_alive(owner))
		rc = mb_err_set(err, MB_ETEMP,
		                "run %lld is being carried out by process %ld; wait for it to end "
		                "(or stop it) before resuming",
		                (long long)c->run_id, pid);
	if (!rc)
		rc = mb_store_meta_set(c->store, key, self, err);
	free(owner);
	if (rc) {
		mb_store_rollback(c->store);
		return rc;
	}
	return mb_store_commit(c->store, err);
}

static void release_run(struct run_ctx *c)
{
	char key[64];
	struct mb_err ignored = MB_ERR_INIT;
	snprintf(key, sizeof key, "run.%lld.owner", (long long)c->run_id);
	mb_store_meta_set(c->store, key, NULL, &ignored);
}

/* Sends what the journal still has planned, collects, follows up and records the verdict. A
 * run that fails midway still gets its (incomplete) verdict recorded. */
static int carry_out(struct run_ctx *c, struct mb_err *err)
{
	struct mb_err ignored = MB_ERR_INIT;
	int rc = send_all(c, err), done;

	if (!rc)
		rc = collect_window(c, err);
	if (!rc && !stopped(c))
		rc = run_followups(c, err);
	if (!rc && !stopped(c))
		rc = run_bisection(c, err);
	done = finish(c,
	              rc           ? "failed"
	              : stopped(c) ? "interrupted"
	                           : "finished",
	              rc ? &ignored : err);
	release_run(c);
	return rc ? rc : done;
}

int mb_run_execute(const struct mb_spec *spec, struct mb_store *store,
                   const struct mb_run_opts *opts, int64_t *run_id, struct mb_err *err)
{
	struct run_ctx c = {0};
	int rc;

	c.spec = spec;
	c.store = store;
	c.opts = opts;
	*run_id = 0;
	rc = prepare_run(&c, err);
	if (!rc)
		rc = journal_plan(&c, err);
	if (!rc) {
		*run_id = c.run_id;
		rc = claim_run(&c, err);
		if (!rc)
			rc = carry_out(&c, err);
	}
	run_ctx_clear(&c);
	return rc;
}

/* The plan of a stored run, rebuilt from its journal: pools and recipients point into spec. */
static int plan_from_journal(struct run_ctx *c, struct mb_err *err)
{
	struct mb_send_row *rows;
	size_t n;
	int rc = mb_store_sends_list(c->store, c->run_id, &rows, &n, err);
	struct mb_planned_send *plan;

	if (rc)
		return rc;
	plan = calloc(n ? n : 1, sizeof *plan);
	if (!plan) {
		mb_store_send_rows_free(rows, n);
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n && !rc; i++) {
		struct mb_planned_send *p = &plan[i];
		p->seq = rows[i].seq;
		if (rows[i].bisect && !(p->bisect = mb_strdup(rows[i].bisect)))
			rc = mb_err_set(err, MB_ENOMEM, "out of memory");
		else if (mb_variant_from_name(rows[i].variant, &p->variant))
			rc = mb_err_set(err, MB_EDATA, "run %lld: send %d has unknown variant %s",
			                (long long)c->run_id, rows[i].seq, rows[i].variant);
		else if (!strcmp(rows[i].pool, c->spec->primary.name))
			p->pool = &c->spec->primary;
		else if (c->spec->has_alternate && !strcmp(rows[i].pool, c->spec->alternate.name))
			p->pool = &c->spec->alternate;
		else
			rc = mb_err_set(err, MB_EDATA, "run %lld: send %d names unknown pool %s",
			                (long long)c->run_id, rows[i].seq, rows[i].pool);
		for (size_t r = 0; !rc && r < c->spec->n_recipients && !p->recipient; r++)
			if (!strcmp(c->spec->recipients[r], rows[i].recipient))
				p->recipient = c->spec->recipients[r];
		if (!rc && !p->recipient)
			rc = mb_err_set(err, MB_EDATA, "run %lld: send %d has unknown recipient %s",
			                (long long)c->run_id, rows[i].seq, rows[i].recipient);
		if (!rc && rows[i].phase == MB_PHASE_SUBMITTING)
			fprintf(stderr,
			        "mailbisect: send %d was being handed to the relay when the run "
			        "stopped; "
			        "it is not sent again (its outcome may still arrive)\n",
			        rows[i].seq);
	}
	mb_store_send_rows_free(rows, n);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			free(plan[i].bisect);
		free(plan);
		return rc;
	}
	free(c->plan);
	c->plan = plan;
	c->n_plan = n;
	return 0;
}

/* The message file must be the one the run started with: resuming with other bytes would mix
 * two experiments. */
static int check_same_message(struct run_ctx *c, const char *facts_json, struct mb_err *err)
{
	char digest[64];
	const char *stored = facts_json ? strstr(facts_json, "\"digest\":\"") : NULL;
	if (!stored)
		return 0; /* a run from before digests were kept */
	stored += strlen("\"digest\":\"");
	if (mb_report_message_digest(c->msg, digest, sizeof digest) ||
	    strncmp(stored, digest, strlen(digest)) != 0 || stored[strlen(digest)] != '"')
		return mb_err_set(
		    err, MB_EDATA,
		    "%s changed since run %lld started; resuming would send different "
		    "content (start a new run instead)",
		    c->spec->message_path, (long long)c->run_id);
	return 0;
}

int mb_run_resume(struct mb_store *store, int64_t run_id, const struct mb_run_opts *opts,
                  struct mb_err *err)
{
	struct run_ctx c = {0};
	struct mb_run_row run;
	struct mb_spec *spec = NULL;
	int rc;

	if ((rc = mb_store_run_get(store, run_id, &run, err)))
		return rc;
	if (!strcmp(run.status, "finished")) {
		rc =
		    mb_err_set(err, MB_EDATA,
		               "run %lld is finished; nothing to resume (`mailbisect collect %lld` "
		               "reads late bounces)",
		               (long long)run_id, (long long)run_id);
		mb_store_run_row_clear(&run);
		return rc;
	}
	rc = mb_spec_parse(&spec, run.spec_json, strlen(run.spec_json), run.spec_path, NULL, err);
	c.spec = spec;
	c.store = store;
	c.opts = opts;
	c.run_id = run_id;
	c.token = run.token;
	run.token = NULL;
	bool claimed = false;
	if (!rc && !(rc = claim_run(&c, err)))
		claimed = true;
	if (!rc)
		rc = prepare_run(&c, err);
	if (!rc)
		rc = check_same_message(&c, run.facts_json, err);
	if (!rc)
		rc = plan_from_journal(&c, err);
	if (!rc)
		rc = carry_out(&c, err);
	else if (claimed)
		release_run(&c);
	run_ctx_clear(&c);
	mb_spec_free(spec);
	mb_store_run_row_clear(&run);
	return rc;
}

static struct mb_factors factors_from_bits(unsigned bits)
{
	struct mb_factors f = {(bits & MB_FACTOR_PRIMARY_POOL) != 0, (bits & MB_FACTOR_LINKS) != 0,
	                       (bits & MB_FACTOR_TEMPLATE) != 0,
	                       (bits & MB_FACTOR_PRIMARY_DOMAIN) != 0};
	return f;
}

/* The stored sends of a run as the inference sees them. *rows owns the strings *obs borrows:
 * free both (mb_store_send_rows_free, free). */
static int load_obs(struct mb_store *store, int64_t run_id, struct mb_send_row **rows,
                    struct mb_verdict_obs **obs, size_t *n, size_t *n_obs, struct mb_err *err)
{
	int rc = mb_store_sends_list(store, run_id, rows, n, err);
	*n_obs = 0;
	if (rc)
		return rc;
	*obs = calloc(*n ? *n : 1, sizeof **obs);
	if (!*obs) {
		mb_store_send_rows_free(*rows, *n);
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
	for (size_t i = 0, k = 0; i < *n; i++) {
		struct mb_verdict_obs *o;
		const struct mb_send_row *r = &(*rows)[i];
		if (r->factors & MB_FACTOR_BISECT) /* carries some links: not a factor point */
			continue;
		o = &(*obs)[k++];
		*n_obs = k;
		if (mb_variant_from_name(r->variant, &o->variant))
			o->variant = MB_VARIANT_ORIGINAL;
		o->factors = factors_from_bits(r->factors);
		o->state = r->state;
		o->stage = r->stage;
		o->fault = r->fault;
		o->reason = r->reason;
		o->pool = r->pool;
	}
	return 0;
}

/* What the bisection sends of a run say: the suspects narrow to the stripped half when a send
 * passes, to the kept half when it is refused; the domain left alone is the refused one.
 * *remaining receives the suspects after the last send that gave evidence (caller frees with
 * mb_strv_free), *steps the number of such sends. */
static int bisection_state(const struct mb_send_row *rows, size_t n, char ***remaining, int *steps)
{
	char **suspects = NULL;
	int rc = 0;

	*remaining = NULL;
	*steps = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct mb_send_row *r = &rows[i];
		struct mb_verdict_obs o = {0};
		char **cand = NULL, **stripped = NULL, *bar, *copy;
		enum mb_obs_class cls;

		if (!(r->factors & MB_FACTOR_BISECT) || !r->bisect ||
		    !(bar = strchr(r->bisect, '|')))
			continue;
		o.state = r->state;
		o.stage = r->stage;
		o.fault = r->fault;
		cls = mb_verdict_classify_obs(&o);
		if (cls != MB_OBS_PASS && cls != MB_OBS_FAIL)
			break; /* no evidence (yet): the bisection stops here */
		if (!(copy = mb_strndup(r->bisect, (size_t)(bar - r->bisect))))
			return MB_ENOMEM;
		rc = split_hosts(copy, &cand);
		free(copy);
		if (!rc)
			rc = split_hosts(bar + 1, &stripped);
		if (!rc) {
			/* keep, of the candidates, those in (pass) or out of (fail) the stripped
			 * set */
			size_t k = 0;
			for (size_t a = 0; cand[a]; a++) {
				bool in = false;
				for (size_t b = 0; stripped[b] && !in; b++)
					in = !strcmp(cand[a], stripped[b]);
				if (in == (cls == MB_OBS_PASS))
					cand[k++] = cand[a];
				else
					free(cand[a]);
			}
			cand[k] = NULL;
			mb_strv_free(suspects);
			suspects = cand;
			cand = NULL;
			(*steps)++;
		}
		mb_strv_free(cand);
		mb_strv_free(stripped);
	}
	if (rc) {
		mb_strv_free(suspects);
		return rc;
	}
	*remaining = suspects;
	return 0;
}

static int bisection_result(const struct mb_send_row *rows, size_t n, struct mb_verdict *v)
{
	char **left;
	int steps, rc = bisection_state(rows, n, &left, &steps);
	struct mb_buf b = MB_BUF_INIT;

	if (rc || !left)
		return rc;
	if (left[0] && !left[1]) {
		v->link_domain = mb_strdup(left[0]);
		if (!v->link_domain ||
		    mb_buf_printf(&b,
		                  "%s Link-domain bisection (%d send%s) names %s: the receiver "
		                  "refuses links to it.",
		                  v->summary ? v->summary : "", steps, steps == 1 ? "" : "s",
		                  left[0])) {
			rc = MB_ENOMEM;
		} else {
			free(v->summary);
			v->summary = mb_buf_steal(&b);
		}
	} else if (!left[0] && !mb_buf_printf(&b,
	                                      "%s Link-domain bisection did not settle: "
	                                      "the outcomes contradict a single refused "
	                                      "link domain.",
	                                      v->summary ? v->summary : "")) {
		free(v->summary);
		v->summary = mb_buf_steal(&b);
	}
	mb_buf_free(&b);
	mb_strv_free(left);
	return rc;
}

int mb_run_verdict(struct mb_store *store, int64_t run_id, struct mb_verdict *verdict,
                   struct mb_err *err)
{
	struct mb_send_row *rows;
	struct mb_verdict_obs *obs;
	size_t n, n_obs;
	int rc = load_obs(store, run_id, &rows, &obs, &n, &n_obs, err);
	if (rc)
		return rc;
	rc = mb_verdict_infer(obs, n_obs, verdict);
	if (!rc)
		rc = bisection_result(rows, n, verdict);
	free(obs);
	mb_store_send_rows_free(rows, n);
	return rc ? mb_err_set(err, rc, "out of memory") : 0;
}

int mb_run_collect(struct mb_store *store, int64_t run_id, int *resolved, struct mb_err *err)
{
	struct mb_run_row run;
	struct mb_spec *spec = NULL;
	struct mb_imap *imap = NULL;
	struct mb_collect_stats stats = {0};
	char *password = NULL;
	int rc;

	*resolved = 0;
	if ((rc = mb_store_run_get(store, run_id, &run, err)))
		return rc;
	rc = mb_spec_parse(&spec, run.spec_json, strlen(run.spec_json), run.spec_path, NULL, err);
	if (!rc && !spec->has_mailbox)
		rc = mb_err_set(err, MB_ECONFIG, "run %lld has no bounce mailbox to collect from",
		                (long long)run_id);
	if (!rc)
		rc = mb_secret_resolve(&spec->mailbox.password, "mailbox", &password, err);
	if (!rc)
		rc = mb_imap_open(&imap, spec->mailbox.url, spec->mailbox.user, password, 30, err);
	if (!rc)
		rc = mb_collect_pass(store, imap, spec->mailbox.url, spec->mailbox.user, &stats,
		                     err);
	*resolved = stats.resolved;
	mb_imap_close(imap);
	free(password);
	mb_spec_free(spec);
	mb_store_run_row_clear(&run);
	return rc;
}
