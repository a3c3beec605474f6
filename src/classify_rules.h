/* The reply classification rules, kept as data: included by classify.c only. Order matters
 * (first match wins), so the groups run from the most decisive evidence to the vaguest. */
#ifndef MAILBISECT_CLASSIFY_RULES_H
#define MAILBISECT_CLASSIFY_RULES_H

#include "mailbisect/outcome.h"

/* clang-format off */

/* One rule. Every condition given must hold:
 * - stages: bit mask of SMTP stages (STAGE(x)); 0 = any stage, including unknown;
 * - code_min..code_max: reply code range (an unknown code counts as class * 100, from the
 *   enhanced code); 0 = any;
 * - enhanced: enhanced status code pattern, 'x' = one digit, a final '*' = any rest
 *   ("x.7.26", "5.7.7xx", "4.*"); NULL = any;
 * - provider: only for bounces in that format (rules files use it; NULL = any);
 * - all: text fragments that must all occur, none: fragments that must not. Fragments are
 *   lower case and matched against the reply text lower-cased, with whitespace and '_'
 *   collapsed to one space and the "550-5.7.1" prefixes of multi-line replies removed. A
 *   leading or trailing space in a fragment asks for a word boundary there (" ip " is the
 *   word, not "ship" or "ipsum").
 * Rules name kinds of replies (what a blocklist or a DMARC refusal says), never one server's
 * exact sentence: a held-out set of replies checks that they generalise. */
#define CLASSIFY_MAX_ALL  6
#define CLASSIFY_MAX_NONE 6

struct classify_rule {
	unsigned stages;
	int code_min, code_max;
	const char *enhanced;
	const char *all[CLASSIFY_MAX_ALL];
	const char *none[CLASSIFY_MAX_NONE];
	const char *reason;
	enum mb_fault fault;
	const char *provider; /* format name from bounce.h ("exchange", ...); NULL = any */
};

#define STAGE(s) (1u << MB_STAGE_##s)
/* Stages before the message is sent: a refusal there cannot be about the content. */
#define PRE_DATA (STAGE(CONNECT) | STAGE(HELO) | STAGE(MAIL) | STAGE(RCPT))
/* The message sent, or no stage known. */
#define DATA_OR_UNKNOWN (STAGE(DATA) | STAGE(UNKNOWN))
#define ANY_CODE 0, 0

#define F_IP MB_FAULT_IP
#define F_DOMAIN MB_FAULT_DOMAIN
#define F_CONTENT MB_FAULT_CONTENT
#define F_RECIPIENT MB_FAULT_RECIPIENT
#define F_TRANSIENT MB_FAULT_TRANSIENT
#define F_SENDER MB_FAULT_SENDER_SIDE
#define F_UNKNOWN MB_FAULT_UNKNOWN

/* Text rules (stage, code, text -> reason, fault). */
#define TEXT(r, f, ...) {0, ANY_CODE, NULL, {__VA_ARGS__}, {NULL}, r, f, NULL}
#define TEXT_NOT(r, f, nots, ...) {0, ANY_CODE, NULL, {__VA_ARGS__}, nots, r, f, NULL}
#define TEXT_4XX(r, f, ...) {0, 400, 499, NULL, {__VA_ARGS__}, {NULL}, r, f, NULL}
#define TEXT_AT(st, r, f, ...) {st, ANY_CODE, NULL, {__VA_ARGS__}, {NULL}, r, f, NULL}
#define CODE(enh, r, f) {0, ANY_CODE, enh, {NULL}, {NULL}, r, f, NULL}
#define NOT(...) {__VA_ARGS__}

static const struct classify_rule classify_rules[] = {
	/* -- Formats that say what happened by who sends them: a Google Groups refusal is the
	 * group's posting policy, in any language. */
	{0, ANY_CODE, NULL, {NULL}, {NULL}, "rejected", F_RECIPIENT, "googlegroups"},

	/* -- Our own side: the account, the relay, the client. Replies at AUTH, and the AUTH
	 * reply codes 530-535 (RFC 4954), are about our credentials whatever they say (not the
	 * enhanced codes alone: 5.7.9 also means "policy" at Yahoo). Microsoft's 5.7.7xx are the
	 * sender tenant's outbound blocks (documented, precise, so before any text). */
	TEXT("failedstarttls", F_SENDER, "must issue a starttls"),
	TEXT("failedstarttls", F_SENDER, "tls required"),
	TEXT("failedstarttls", F_SENDER, "requires tls"),
	TEXT("failedstarttls", F_SENDER, "encryption required"),
	TEXT("failedstarttls", F_SENDER, "not support tls"),
	TEXT("failedstarttls", F_SENDER, "not support starttls"),
	{STAGE(AUTH), ANY_CODE, NULL, {NULL}, {NULL}, "securityerror", F_SENDER, NULL},
	{0, 530, 535, NULL, {NULL}, {NULL}, "securityerror", F_SENDER, NULL},
	CODE("x.7.57", "securityerror", F_SENDER),  /* Microsoft: client was not authenticated */
	CODE("5.7.7xx", "blocked", F_SENDER),       /* Microsoft: tenant outbound blocked */
	TEXT("securityerror", F_SENDER, "authentication required"),
	TEXT("securityerror", F_SENDER, "not authenticated to send"),
	TEXT("securityerror", F_SENDER, "unauthenticated sender"),
	TEXT("securityerror", F_SENDER, "smtp authentication"),
	TEXT("rejected", F_SENDER, "not owned by"),        /* Postfix sender login mismatch */
	/* an ESP that will not send for an address or domain it has not verified is a relay
	 * refusing us (Sisimai's "norelaying"), still our own side's fault */
	TEXT("norelaying", F_SENDER, "address is not verified"),
	TEXT("norelaying", F_SENDER, "identities failed the check"),
	TEXT("rejected", F_SENDER, "not verified"),        /* ESP: sender identity not verified */
	TEXT("suppressed", F_SENDER, "suppression list"),
	TEXT("suppressed", F_SENDER, "address is suppressed"),
	/* the sending account flagged by its own provider's outbound filter */
	TEXT("suspend", F_SENDER, "unsolicited", "from your address"),
	TEXT("suspend", F_SENDER, "outbound spam"),
	TEXT("suspend", F_SENDER, "your account", "suspended"),
	TEXT("suspend", F_SENDER, "your account", "disabled"),
	TEXT("suspend", F_SENDER, "your account", "locked"),

	/* -- The receiver's own lookups are broken (a DNSBL refusing its open resolver): not
	 * evidence about us at all. */
	TEXT("systemerror", F_UNKNOWN, "open resolver"),
	TEXT("systemerror", F_UNKNOWN, "spamhaus.org/returnc"),

	/* -- The envelope sender itself (our bounce domain) refused. */
	TEXT("rejected", F_DOMAIN, "domain of sender address"),
	TEXT("domainreputation", F_DOMAIN, "sender address rejected", "using"), /* RHSBL */
	TEXT("domainreputation", F_DOMAIN, "sender address", "blocked using"),
	TEXT("rejected", F_DOMAIN, "sender address rejected", "domain not found"),
	TEXT("rejected", F_DOMAIN, "sender", "domain", "does not exist"),
	TEXT("rejected", F_DOMAIN, "sender verify failed"),
	TEXT("rejected", F_DOMAIN, "sender verification"),
	TEXT("rejected", F_UNKNOWN, "sender address rejected"),
	/* an address (not an IP) on the receiver's own list: the sender, or to whom it writes */
	TEXT("rejected", F_DOMAIN, "from an address", "blacklisted"),
	TEXT("rejected", F_UNKNOWN, "sender rejected"),

	/* -- Rules the recipient's organisation set up (transport rules, its own block lists,
	 * its anti-spoofing policy for its own domain, forwarding bans): nothing we can change. */
	TEXT("filtered", F_RECIPIENT, "transport.rules"),
	TEXT("filtered", F_RECIPIENT, "organization policy"),
	TEXT("filtered", F_RECIPIENT, "organisation policy"),
	TEXT("filtered", F_RECIPIENT, "resolver.rst"),
	TEXT("filtered", F_RECIPIENT, "envelope blocked"),
	TEXT("filtered", F_RECIPIENT, "anti-spoofing"),
	TEXT("filtered", F_RECIPIENT, "external forwarding"),
	TEXT("filtered", F_RECIPIENT, "blocked senders"),
	TEXT("filtered", F_RECIPIENT, "blocked by the recipient"),
	TEXT("filtered", F_RECIPIENT, "not allowed to receive"),
	TEXT("filtered", F_RECIPIENT, "recipient preferences"),

	/* -- A lookup that failed for now ("Host not found, try again"): the network, not a
	 * missing domain. */
	TEXT("networkerror", F_TRANSIENT, "name service error", "try again"),
	TEXT("networkerror", F_TRANSIENT, "host name lookup failure"),
	TEXT("networkerror", F_TRANSIENT, "dns query failed"),
	/* the receiver's own directory (LDAP) is down */
	TEXT("systemerror", F_TRANSIENT, "ldap server"),
	TEXT_4XX("systemerror", F_TRANSIENT, "could not load"),

	/* -- The recipient does not exist or cannot receive. */
	TEXT("hostunknown", F_RECIPIENT, "domain does not exist"),
	TEXT("hostunknown", F_RECIPIENT, "dns lookup failure"),
	TEXT("mailererror", F_RECIPIENT, "pipe to |"),
	TEXT("userunknown", F_RECIPIENT, "user unknown"),
	TEXT("userunknown", F_RECIPIENT, "unknown user"),
	TEXT("userunknown", F_RECIPIENT, "no such user"),
	TEXT("userunknown", F_RECIPIENT, "no such mailbox"),
	TEXT("userunknown", F_RECIPIENT, "no such recipient"),
	TEXT("userunknown", F_RECIPIENT, "no such address"),
	TEXT("userunknown", F_RECIPIENT, "unknown recipient"),
	TEXT("userunknown", F_RECIPIENT, "recipient unknown"),
	TEXT("userunknown", F_RECIPIENT, "invalid recipient"),
	TEXT("userunknown", F_RECIPIENT, "user not found"),
	TEXT("userunknown", F_RECIPIENT, "recipient not found"),
	TEXT("userunknown", F_RECIPIENT, "mailbox not found"),
	TEXT("userunknown", F_RECIPIENT, "address not found"),
	TEXT("userunknown", F_RECIPIENT, "not a valid mailbox"),
	TEXT("userunknown", F_RECIPIENT, "no mailbox"),
	TEXT("userunknown", F_RECIPIENT, "recipient address syntax"),
	TEXT("userunknown", F_RECIPIENT, "recipient address rejected", "access denied"),
	/* a bare "Recipient address rejected." at RCPT TO: the address itself was refused */
	TEXT_AT(STAGE(RCPT), "userunknown", F_RECIPIENT, "recipient address rejected."),
	TEXT("userunknown", F_RECIPIENT, "not exist"),
	TEXT("userunknown", F_RECIPIENT, "doesn't have a", "account"),
	TEXT("userunknown", F_RECIPIENT, "no longer", "address"),
	TEXT("userunknown", F_RECIPIENT, "no longer", "server"),
	TEXT("userunknown", F_RECIPIENT, "address couldn't be found"),
	TEXT("userunknown", F_RECIPIENT, "not listed in", "directory"),
	TEXT("userunknown", F_RECIPIENT, "not listed in", "address book"),
	TEXT("userunknown", F_RECIPIENT, "invalid", "userid"),
	TEXT("mailboxfull", F_RECIPIENT, "mailbox full"),
	TEXT("mailboxfull", F_RECIPIENT, "mailbox is full"),
	TEXT("mailboxfull", F_RECIPIENT, "over quota"),
	TEXT("mailboxfull", F_RECIPIENT, "mailbox", "quota"),
	TEXT("mailboxfull", F_RECIPIENT, "insufficient storage"),
	TEXT("mailboxfull", F_RECIPIENT, "disk quota"),
	TEXT("mailboxfull", F_RECIPIENT, "mailbox exceeds"),
	TEXT("mailboxfull", F_RECIPIENT, "folder is full"),
	TEXT_NOT("mailboxfull", F_RECIPIENT, NOT("rate", "sending", "connection"), "mailbox", "exceeded"),
	TEXT_NOT("mailboxfull", F_RECIPIENT, NOT("send"), "quota exceeded"),
	TEXT("systemfull", F_TRANSIENT, "disk space"),
	TEXT("suspend", F_RECIPIENT, "mailbox", "disabled"),
	TEXT("suspend", F_RECIPIENT, "mailbox", "frozen"),
	TEXT("suspend", F_RECIPIENT, "account is disabled"),
	TEXT("suspend", F_RECIPIENT, "account has been disabled"),
	TEXT("suspend", F_RECIPIENT, "account is blocked"),
	TEXT("suspend", F_RECIPIENT, " locked"),
	TEXT("suspend", F_RECIPIENT, "account", "inactive"),
	TEXT("suspend", F_RECIPIENT, "mailbox", "inactive"),
	TEXT("hostunknown", F_RECIPIENT, "host unknown"),
	TEXT("hostunknown", F_RECIPIENT, "unknown host"),
	TEXT("hostunknown", F_RECIPIENT, "domain not found"),
	TEXT("hostunknown", F_RECIPIENT, "unrouteable"),
	TEXT("hostunknown", F_RECIPIENT, "name service error"),
	TEXT("hostunknown", F_RECIPIENT, "nxdomain"),
	TEXT("hostunknown", F_RECIPIENT, "domain is not reachable"),
	TEXT("notaccept", F_RECIPIENT, "null mx"),
	TEXT("notaccept", F_RECIPIENT, "does not accept mail"),
	TEXT("norelaying", F_RECIPIENT, "relay access denied"),
	TEXT("norelaying", F_RECIPIENT, "relaying denied"),
	TEXT("norelaying", F_RECIPIENT, "relay not permitted"),
	TEXT("norelaying", F_RECIPIENT, "not permitted to relay"),
	TEXT("norelaying", F_RECIPIENT, "unable to relay"),
	TEXT("norelaying", F_RECIPIENT, "no relaying"),
	TEXT("norelaying", F_RECIPIENT, "insecure mail relay"),
	/* a hop count exceeded names the loop's effect on the way (RFC 3463 x.4.6) */
	TEXT("networkerror", F_RECIPIENT, "too many hops"),
	TEXT("networkerror", F_RECIPIENT, "hop count"),
	TEXT("systemerror", F_RECIPIENT, "loops back"),
	TEXT("systemerror", F_RECIPIENT, "mail loop"),
	TEXT("networkerror", F_RECIPIENT, "routing loop"),

	/* -- The message's format (precise statements, so before the words "DKIM" or "spam"
	 * they may contain; classify.c makes them "unknown" before DATA like all content). */
	TEXT("notcompliantrfc", F_CONTENT, "rfc 5322"),
	TEXT("notcompliantrfc", F_CONTENT, "rfc5322"),
	TEXT("notcompliantrfc", F_CONTENT, "rfc 2822"),
	TEXT("notcompliantrfc", F_CONTENT, "rfc2822"),
	TEXT("notcompliantrfc", F_CONTENT, "duplicate header"),
	TEXT("notcompliantrfc", F_CONTENT, "multiple", "header"),
	TEXT("notcompliantrfc", F_CONTENT, "multiple addresses in from"),
	TEXT("notcompliantrfc", F_CONTENT, "malformed"),
	TEXT("notcompliantrfc", F_CONTENT, "not compliant"),
	TEXT("notcompliantrfc", F_CONTENT, "non-compliant"),

	/* -- Reverse DNS and host name checks: about the sending IP's DNS, an IP fault. */
	TEXT("requireptr", F_IP, "reverse dns"),
	TEXT("requireptr", F_IP, "reverse-dns"),
	TEXT("requireptr", F_IP, " rdns"),
	TEXT("requireptr", F_IP, "ptr record"),
	TEXT("requireptr", F_IP, "reverse lookup"),
	TEXT("requireptr", F_IP, "reverse hostname"),
	TEXT("requireptr", F_IP, "find your hostname"),
	TEXT("requireptr", F_IP, "helo", "host not found"),
	TEXT("requireptr", F_IP, "helo", "not resolve"),
	TEXT("requireptr", F_IP, "mismatch", " ip "),
	TEXT("requireptr", F_IP, "unverifiable sending ip"),
	TEXT("requireptr", F_IP, "unverifyable sending ip"),
	/* qmail's "my name was rejected": the HELO name of the connecting host, whatever the
	 * queue said afterwards */
	TEXT("blocked", F_IP, "my name was rejected"),
	TEXT("notaccept", F_RECIPIENT, "no smtp service"),
	TEXT("notaccept", F_RECIPIENT, "no mx found"),
	TEXT("notaccept", F_RECIPIENT, "find a mail exchanger"),

	/* -- Authentication of the sending domain (SPF, DKIM, DMARC): configuration, so it
	 * outranks the rate limits and blocks it causes (a DMARC rate limit is a DMARC fault). */
	TEXT("authfailure", F_DOMAIN, "dmarc"),
	TEXT("authfailure", F_DOMAIN, " spf ", "fail"),
	TEXT("authfailure", F_DOMAIN, " spf ", "not pass"),
	TEXT("authfailure", F_DOMAIN, " spf check"),
	TEXT("authfailure", F_DOMAIN, " spf validation"),
	TEXT("authfailure", F_DOMAIN, "spf record"),
	TEXT("authfailure", F_DOMAIN, " spf ", "not allowed"),
	TEXT("authfailure", F_DOMAIN, "sender policy framework"),
	TEXT("authfailure", F_DOMAIN, " dkim ", "fail"),
	TEXT("authfailure", F_DOMAIN, " dkim ", "not pass"),
	TEXT("authfailure", F_DOMAIN, "unauthenticated"),
	TEXT("authfailure", F_DOMAIN, "authentication check"),
	TEXT("authfailure", F_DOMAIN, "authentication information"),
	TEXT("authfailure", F_DOMAIN, "sender authentication"),
	TEXT("authfailure", F_DOMAIN, "spoofed"),
	TEXT("authfailure", F_DOMAIN, "spoofing"),
	TEXT("authfailure", F_DOMAIN, "forged"),

	/* -- Deferrals for the sending IP's complaint rate (Yahoo's TSS04 and the like): its
	 * reputation, not a plain rate limit, at whatever stage it comes. (Yahoo's own hosts
	 * document it as a refusal of the sender as a whole, see bounce_hosts.c.) */
	TEXT("badreputation", F_IP, "user complaints"),
	TEXT("badreputation", F_IP, "complaint rate"),

	/* -- Rate and connection limits: wait and retry, no evidence about the factors. */
	TEXT("toomanyconn", F_TRANSIENT, "connection rate"),
	TEXT("speeding", F_TRANSIENT, "rate limit"),
	TEXT("speeding", F_TRANSIENT, "rate-limit"),
	TEXT("speeding", F_TRANSIENT, "ratelimit"),
	TEXT("speeding", F_TRANSIENT, "throttl"),
	TEXT("speeding", F_TRANSIENT, "excessive volume"),
	TEXT("speeding", F_TRANSIENT, "too many messages"),
	TEXT("speeding", F_TRANSIENT, "too much mail"),
	TEXT("speeding", F_TRANSIENT, "too many", " hour"),
	TEXT("speeding", F_TRANSIENT, "too many", " per "),
	TEXT("speeding", F_TRANSIENT, "greylist"),
	TEXT("speeding", F_TRANSIENT, "graylist"),
	TEXT("toomanyconn", F_TRANSIENT, "too many recipients"),
	TEXT("toomanyconn", F_TRANSIENT, "too many connections"),
	TEXT("toomanyconn", F_TRANSIENT, "too many concurrent"),
	TEXT("toomanyconn", F_TRANSIENT, "connection limit"),
	TEXT("systemerror", F_TRANSIENT, "service refuse"),
	TEXT_4XX("undefined", F_TRANSIENT, "try again later"),
	TEXT_4XX("undefined", F_TRANSIENT, "try later"),
	TEXT_4XX("undefined", F_TRANSIENT, "temporarily deferred"),

	/* -- The sending domain's reputation (before IP and URL rules: "domain ... listed"). */
	TEXT_NOT("domainreputation", F_DOMAIN, NOT(" ip ", " url", " link"), "domain", "reputation"),
	TEXT_NOT("domainreputation", F_DOMAIN, NOT(" url", " link", "present in"), "domain",
		 "listed"),
	TEXT_NOT("domainreputation", F_DOMAIN, NOT(" url", " link"), "your domain", "block"),
	TEXT_NOT("domainreputation", F_DOMAIN, NOT(" url", " link"), "sending domain", "block"),
	TEXT_NOT("domainreputation", F_DOMAIN, NOT(" url", " link"), "sender domain", "block"),
	/* a domain list consulted before DATA can only have seen the envelope or HELO domain */
	TEXT_AT(PRE_DATA, "domainreputation", F_DOMAIN, " dbl"),
	TEXT_AT(PRE_DATA, "domainreputation", F_DOMAIN, "surbl"),
	TEXT_AT(PRE_DATA, "domainreputation", F_DOMAIN, "uribl"),

	/* -- A URL or link domain in the message is listed. */
	TEXT("urlreputation", F_CONTENT, " url", "blacklist"),
	TEXT("urlreputation", F_CONTENT, " url", "blocklist"),
	TEXT("urlreputation", F_CONTENT, " url", "block"),
	TEXT("urlreputation", F_CONTENT, " url", "listed"),
	TEXT("urlreputation", F_CONTENT, " url", "reputation"),
	TEXT("urlreputation", F_CONTENT, " url", "spam"),
	TEXT("urlreputation", F_CONTENT, " uri", "black"),
	TEXT("urlreputation", F_CONTENT, " uri", "listed"),
	TEXT("urlreputation", F_CONTENT, " link", "block"),
	TEXT("urlreputation", F_CONTENT, " link", "listed"),
	TEXT("urlreputation", F_CONTENT, " link", "malicious"),
	TEXT("urlreputation", F_CONTENT, " dbl"),
	TEXT("urlreputation", F_CONTENT, "surbl"),
	TEXT("urlreputation", F_CONTENT, "uribl"),
	TEXT("urlreputation", F_CONTENT, "phishing"),

	/* -- The sending IP: block lists, DNSBLs, IP reputation, dynamic/direct-to-MX blocks.
	 * The text outvotes the enhanced code (5.5.x, 5.3.0 and 5.7.0 all occur here). */
	CODE("5.7.60x", "blocked", F_IP),           /* Microsoft: banned sending IP */
	CODE("5.7.511", "blocked", F_IP),           /* Microsoft: banned sender IP */
	TEXT("blocked", F_IP, "block list"),
	TEXT("blocked", F_IP, "blocklist"),
	TEXT("blocked", F_IP, "black list"),
	TEXT("blocked", F_IP, "blacklist"),
	TEXT("blocked", F_IP, " rbl"),
	TEXT("blocked", F_IP, "dnsbl"),
	TEXT("blocked", F_IP, "blocked using"),
	TEXT("blocked", F_IP, "rejected using"),
	TEXT("blocked", F_IP, "client host", "block"),
	TEXT("blocked", F_IP, "client host rejected"),
	TEXT("blocked", F_IP, "spamhaus"),
	TEXT("blocked", F_IP, "spamcop"),
	TEXT("blocked", F_IP, "sorbs"),
	TEXT("blocked", F_IP, "barracudacentral"),
	TEXT("blocked", F_IP, "cloudmark"),
	TEXT("blocked", F_IP, "senderbase"),
	TEXT("blocked", F_IP, "ipcheck"),                         /* Proofpoint's IP lookup */
	TEXT("blocked", F_IP, "smtp-error-codes.php#bl"),         /* Comcast's BL codes */
	TEXT("blocked", F_IP, "messages from", "permanently deferred"),
	TEXT("blocked", F_IP, "connections will not be accepted"),
	TEXT("blocked", F_IP, "connection", "block"),
	TEXT("blocked", F_IP, "dynamic ip"),
	TEXT("blocked", F_IP, "residential ip"),
	TEXT("blocked", F_IP, "not accepting connections"),
	TEXT("blocked", F_IP, "no access from mail server"),
	TEXT("blocked", F_IP, "dial-up"),
	TEXT("blocked", F_IP, "dialup"),
	TEXT("blocked", F_IP, "server of your isp"),
	TEXT("blocked", F_IP, "messages from", "weren't sent"),
	TEXT("blocked", F_IP, "invalid ip for sending"),
	TEXT("badreputation", F_IP, " ip ", "reputation"),
	TEXT("blocked", F_IP, " ip ", "block"),
	TEXT("blocked", F_IP, " ip ", "listed"),
	TEXT("blocked", F_IP, " ip ", "listing"),
	TEXT("blocked", F_IP, " ip ", "banned"),
	TEXT("blocked", F_IP, " ip ", "not authorized"),
	TEXT("blocked", F_IP, " ip ", "spam"),
	TEXT("badreputation", F_IP, "reputation"),

	/* -- Content verdicts (at DATA; classify.c turns them into "unknown" before DATA). */
	TEXT("virusdetected", F_CONTENT, "virus"),
	TEXT("virusdetected", F_CONTENT, "malware"),
	TEXT("virusdetected", F_CONTENT, "infected"),
	TEXT("virusdetected", F_CONTENT, "trojan"),
	TEXT("virusdetected", F_CONTENT, "potential security issue"),
	TEXT("virusdetected", F_CONTENT, "potentially harmful"),
	TEXT("contenterror", F_CONTENT, "file extension"),
	TEXT("contenterror", F_CONTENT, "attachment"),
	TEXT("contenterror", F_CONTENT, "executable"),
	TEXT("policyviolation", F_CONTENT, "banned content"),
	TEXT("policyviolation", F_CONTENT, "prohibited content"),
	TEXT("policyviolation", F_CONTENT, "header error"),
	TEXT("spamdetected", F_CONTENT, "spam"),
	TEXT("spamdetected", F_CONTENT, "junk"),
	TEXT("spamdetected", F_CONTENT, " ube "),
	TEXT("spamdetected", F_CONTENT, "unsolicited"),
	TEXT("spamdetected", F_CONTENT, "rspamd"),
	TEXT("spamdetected", F_CONTENT, "content filter"),
	TEXT("spamdetected", F_CONTENT, "content rejected"),
	TEXT("mesgtoobig", F_CONTENT, "message size", "exceed"),
	TEXT("mesgtoobig", F_CONTENT, "too large"),
	TEXT("mesgtoobig", F_CONTENT, "too big"),
	TEXT("mesgtoobig", F_CONTENT, "size limit"),
	TEXT("mesgtoobig", F_CONTENT, "line limit exceeded"),
	TEXT("policyviolation", F_CONTENT, "content", "reject"),
	TEXT("policyviolation", F_CONTENT, "content", "block"),
	TEXT("policyviolation", F_CONTENT, "content", "not accept"),
	/* A policy refusal that names no subject. After the message was seen it is a content
	 * verdict (the lab's "554 5.7.1 Email rejected due to security policies" comes from a
	 * link filter, but the text does not say so: the A/B variants tell links from template,
	 * so the reason stays the generic policyviolation rather than urlreputation). */
	TEXT("policyviolation", F_CONTENT, "security polic"),
	TEXT("policyviolation", F_CONTENT, "content polic"),
	TEXT("policyviolation", F_CONTENT, "policy reason"),
	TEXT("policyviolation", F_CONTENT, "policy restriction"),
	TEXT("policyviolation", F_CONTENT, "local policy"),
	/* a bare "Policy violation" to RCPT TO is the address refused, left to the code */
	TEXT_AT(DATA_OR_UNKNOWN, "policyviolation", F_CONTENT, "policy violation"),
	TEXT("policyviolation", F_CONTENT, "violates", "policy"),
	TEXT("policyviolation", F_CONTENT, "by policy"),
	TEXT("policyviolation", F_UNKNOWN, "protocol violation"),

	/* -- Delivery problems on the way (a failed DSN after retries). */
	TEXT("expired", F_TRANSIENT, "retry timeout exceeded"),
	TEXT("expired", F_TRANSIENT, "message expired"),
	TEXT("expired", F_TRANSIENT, "too long in queue"),
	TEXT("expired", F_TRANSIENT, "delivery time expired"),
	TEXT("expired", F_TRANSIENT, "been failing for a long time"),
	TEXT("expired", F_TRANSIENT, "could not deliver for the last"),
	TEXT("expired", F_TRANSIENT, "in the queue too long"),
	TEXT("expired", F_TRANSIENT, "did not accept our requests to connect"),
	TEXT("expired", F_TRANSIENT, "host not reachable"),
	TEXT("expired", F_TRANSIENT, "delivery failed", " attempts"),
	TEXT("expired", F_TRANSIENT, "was aborted after"),
	TEXT("expired", F_TRANSIENT, "not delivered within"),
	TEXT("expired", F_TRANSIENT, "host is not responding"),
	/* a provider's queue that gave up and says only that */
	TEXT("systemerror", F_TRANSIENT, "after multiple retries"),
	TEXT("networkerror", F_TRANSIENT, "network error"),
	TEXT("systemerror", F_TRANSIENT, "service currently unavailable"),
	TEXT("expired", F_TRANSIENT, "timed out"),
	/* a named host that refused the connection turned us away (Sisimai's "blocked"); no
	 * evidence yet of which factor */
	TEXT("blocked", F_TRANSIENT, "connection refused by"),
	TEXT("networkerror", F_TRANSIENT, "connection refused"),
	/* the peer hung up on us mid-session: turned away, for no reason it gave */
	TEXT("blocked", F_TRANSIENT, "connection reset by peer"),
	TEXT("networkerror", F_TRANSIENT, "connection reset"),
	TEXT("networkerror", F_TRANSIENT, "lost connection"),
	TEXT("networkerror", F_TRANSIENT, "network is unreachable"),
	TEXT("networkerror", F_TRANSIENT, "dns error"),
	TEXT("syntaxerror", F_SENDER, "syntax error"),
	TEXT("syntaxerror", F_SENDER, "command unrecognized"),
	TEXT("syntaxerror", F_SENDER, "unrecognized command"),
	TEXT("syntaxerror", F_SENDER, "bad sequence"),
	TEXT("syntaxerror", F_SENDER, "sequence of commands"),
	TEXT("syntaxerror", F_SENDER, "not implemented"),

	/* -- Vague refusals: a reason, no attribution. */
	TEXT("blocked", F_UNKNOWN, "blocked"),
	TEXT_NOT("userunknown", F_RECIPIENT, NOT("try again", "polic", "later"), "mailbox unavailable"),
};

/* Fallback on the enhanced status code (RFC 3463 subject.detail, class ignored) when no text
 * rule matched. */
static const struct {
	const char *code; /* "x.1.1"; 'x' = class */
	const char *reason;
	enum mb_fault fault;
} classify_status_rules[] = {
	{"x.1.0", "userunknown", F_RECIPIENT},   {"x.1.1", "userunknown", F_RECIPIENT},
	{"x.1.2", "hostunknown", F_RECIPIENT},   {"x.1.3", "userunknown", F_RECIPIENT},
	{"x.1.4", "userunknown", F_RECIPIENT},   {"x.1.6", "hasmoved", F_RECIPIENT},
	{"x.1.7", "rejected", F_DOMAIN},         {"x.1.8", "rejected", F_DOMAIN},
	{"x.1.10", "notaccept", F_RECIPIENT},    {"x.2.0", "filtered", F_RECIPIENT},
	{"x.2.1", "suspend", F_RECIPIENT},       {"x.2.2", "mailboxfull", F_RECIPIENT},
	{"x.2.3", "mesgtoobig", F_CONTENT},      {"x.2.4", "mailererror", F_RECIPIENT},
	{"x.3.0", "systemerror", F_RECIPIENT},   {"x.3.1", "systemfull", F_RECIPIENT},
	{"x.3.2", "notaccept", F_RECIPIENT},     {"x.3.3", "systemerror", F_RECIPIENT},
	{"x.3.4", "mesgtoobig", F_CONTENT},      {"x.3.5", "systemerror", F_RECIPIENT},
	{"x.4.1", "networkerror", F_TRANSIENT},  {"x.4.2", "networkerror", F_TRANSIENT},
	{"x.4.3", "systemerror", F_TRANSIENT},   {"x.4.4", "hostunknown", F_RECIPIENT},
	{"x.4.5", "systemfull", F_TRANSIENT},    {"x.4.6", "networkerror", F_RECIPIENT},
	{"x.4.7", "expired", F_TRANSIENT},
	/* x.5.x: protocol errors; also used loosely for refusals, so no attribution */
	{"x.5.1", "syntaxerror", F_UNKNOWN},     {"x.5.2", "syntaxerror", F_UNKNOWN},
	{"x.5.3", "exceedlimit", F_UNKNOWN},     {"x.5.4", "syntaxerror", F_UNKNOWN},
	{"x.5.5", "syntaxerror", F_UNKNOWN},     {"x.6.0", "contenterror", F_CONTENT},
	{"x.6.1", "contenterror", F_CONTENT},    {"x.6.2", "contenterror", F_CONTENT},
	{"x.6.3", "contenterror", F_CONTENT},    {"x.6.4", "contenterror", F_CONTENT},
	{"x.6.5", "contenterror", F_CONTENT},    {"x.7.0", "securityerror", F_UNKNOWN},
	{"x.7.1", "securityerror", F_UNKNOWN}, {"x.7.2", "filtered", F_RECIPIENT},
	{"x.7.3", "securityerror", F_UNKNOWN},   {"x.7.4", "securityerror", F_SENDER},
	{"x.7.5", "securityerror", F_SENDER},    {"x.7.6", "securityerror", F_SENDER},
	{"x.7.7", "securityerror", F_CONTENT},   {"x.7.10", "failedstarttls", F_SENDER},
	{"x.7.12", "securityerror", F_SENDER},   {"x.7.13", "suspend", F_RECIPIENT},
	{"x.7.17", "hasmoved", F_RECIPIENT},     {"x.7.18", "hasmoved", F_RECIPIENT},
	{"x.7.20", "authfailure", F_DOMAIN},     {"x.7.21", "authfailure", F_DOMAIN},
	{"x.7.22", "authfailure", F_DOMAIN},     {"x.7.23", "authfailure", F_DOMAIN},
	{"x.7.24", "authfailure", F_DOMAIN},     {"x.7.25", "requireptr", F_IP},
	{"x.7.26", "authfailure", F_DOMAIN},     {"x.7.27", "notaccept", F_DOMAIN},
	{"x.7.28", "speeding", F_TRANSIENT},     {"x.7.29", "authfailure", F_DOMAIN},
	{"x.7.30", "failedstarttls", F_SENDER},
};

/* Codes that providers write into their replies and document, read before the text rules
 * because they are precise where the words are vague ("sender rejected", "Service refused,
 * please try later"): Cox's and Spectrum's "AUP#<code>", Orange's and La Poste's
 * "OFR<nnn>_<code>" / "LPN<nnn>_<code>". A code is found after its label at the start of a
 * word; it is matched as a word ("cxbl", a final '*' = any rest) or by the number that ends it
 * (low..high). */
static const struct {
	const char *label; /* lower case */
	const char *word;  /* the code after the label, lower case; NULL: use the number */
	int low, high;
	const char *reason;
	enum mb_fault fault;
} classify_provider_codes[] = {
	/* Cox */
	{"aup#", "cxbl", 0, 0, "blocked", F_IP},
	{"aup#", "cdrbl", 0, 0, "blocked", F_IP},
	{"aup#", "ipbl*", 0, 0, "blocked", F_IP},
	{"aup#", "cxdns", 0, 0, "requireptr", F_IP},
	{"aup#", "cxsndr", 0, 0, "authfailure", F_DOMAIN},
	{"aup#", "cxsmtp", 0, 0, "rejected", F_UNKNOWN},
	{"aup#", "cxcnct", 0, 0, "toomanyconn", F_TRANSIENT},
	{"aup#", "cxmxrt", 0, 0, "toomanyconn", F_TRANSIENT},
	{"aup#", "cxthrt", 0, 0, "securityerror", F_SENDER},
	{"aup#", "cxmj", 0, 0, "securityerror", F_SENDER},
	{"aup#", "urlbl*", 0, 0, "spamdetected", F_CONTENT},
	/* Spectrum (Charter): AUP#I-nnnn incoming, AUP#O-nnnn outgoing */
	{"aup#", NULL, 1000, 1000, "blocked", F_IP},
	{"aup#", NULL, 1010, 1080, "rejected", F_SENDER},
	{"aup#", NULL, 1090, 1090, "systemerror", F_TRANSIENT},
	{"aup#", NULL, 1100, 1150, "requireptr", F_IP},
	{"aup#", NULL, 1160, 1190, "policyviolation", F_DOMAIN},
	{"aup#", NULL, 1200, 1250, "blocked", F_IP},
	{"aup#", NULL, 1260, 1260, "networkerror", F_TRANSIENT},
	/* sent in permanent "sender rejected" replies too: no attribution */
	{"aup#", NULL, 1300, 1340, "toomanyconn", F_UNKNOWN},
	{"aup#", NULL, 1350, 1490, "speeding", F_TRANSIENT},
	{"aup#", NULL, 1500, 1520, "rejected", F_SENDER},
	{"aup#", NULL, 1530, 1530, "mesgtoobig", F_CONTENT},
	{"aup#", NULL, 1540, 1550, "speeding", F_TRANSIENT},
	{"aup#", NULL, 1560, 1560, "policyviolation", F_UNKNOWN},
	{"aup#", NULL, 1580, 1580, "speeding", F_TRANSIENT},
	/* Orange (OFR) and La Poste (LPN): the last three digits name the case */
	{"ofr", NULL, 101, 103, "blocked", F_IP},
	{"ofr", NULL, 104, 104, "toomanyconn", F_TRANSIENT},
	{"ofr", NULL, 107, 108, "blocked", F_IP},
	{"ofr", NULL, 305, 305, "securityerror", F_SENDER},
	{"ofr", NULL, 401, 401, "authfailure", F_DOMAIN},
	{"ofr", NULL, 402, 402, "securityerror", F_SENDER},
	{"ofr", NULL, 403, 405, "rejected", F_DOMAIN},
	{"ofr", NULL, 415, 415, "rejected", F_DOMAIN},
	{"ofr", NULL, 416, 416, "userunknown", F_RECIPIENT},
	{"ofr", NULL, 417, 417, "mailboxfull", F_RECIPIENT},
	{"ofr", NULL, 420, 420, "suspend", F_RECIPIENT},
	{"ofr", NULL, 421, 421, "rejected", F_SENDER},
	{"ofr", NULL, 426, 426, "suspend", F_RECIPIENT},
	{"ofr", NULL, 505, 505, "systemerror", F_TRANSIENT},
	{"ofr", NULL, 506, 506, "spamdetected", F_CONTENT},
	{"ofr", NULL, 510, 510, "blocked", F_IP},
	{"ofr", NULL, 514, 514, "mesgtoobig", F_CONTENT},
	{"ofr", NULL, 517, 517, "authfailure", F_DOMAIN},
	{"ofr", NULL, 630, 630, "policyviolation", F_IP},
	{"ofr", NULL, 999, 999, "blocked", F_IP},
	{"lpn", NULL, 101, 103, "blocked", F_IP},
	{"lpn", NULL, 104, 104, "toomanyconn", F_TRANSIENT},
	{"lpn", NULL, 107, 108, "blocked", F_IP},
	{"lpn", NULL, 401, 401, "authfailure", F_DOMAIN},
	{"lpn", NULL, 402, 402, "securityerror", F_SENDER},
	{"lpn", NULL, 403, 405, "rejected", F_DOMAIN},
	{"lpn", NULL, 416, 416, "userunknown", F_RECIPIENT},
	{"lpn", NULL, 417, 417, "mailboxfull", F_RECIPIENT},
	{"lpn", NULL, 420, 420, "suspend", F_RECIPIENT},
	{"lpn", NULL, 421, 421, "rejected", F_SENDER},
	{"lpn", NULL, 426, 426, "suspend", F_RECIPIENT},
	{"lpn", NULL, 505, 505, "systemerror", F_TRANSIENT},
	{"lpn", NULL, 510, 510, "blocked", F_IP},
	{"lpn", NULL, 514, 514, "mesgtoobig", F_CONTENT},
	{"lpn", NULL, 517, 517, "authfailure", F_DOMAIN},
	{"lpn", NULL, 630, 630, "policyviolation", F_IP},
};

/* clang-format on */

#endif
