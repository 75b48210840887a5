/*
 * cli_data.c - the subcommands that read and write profiles directly in
 * the store: dump, profile and privacy (import, through the intake queue
 * like every other door, is cli_import.c).  A command's reads share one
 * read snapshot; an erase goes through the intake like any record, never
 * around it.
 */
#include "cli.h"

#include "access_doc.h"
#include "alloc.h"
#include "intake.h"
#include "privacy.h"
#include "profile.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- dump ----------------------------------------------------------- */

static int parse_events_arg(const char *arg, long *out)
{
	char *end;
	if (strcmp(arg, "all") == 0) {
		*out = PROFILE_EVENTS_ALL;
		return 0;
	}
	errno = 0;
	*out = strtol(arg, &end, 10);
	return errno || end == arg || *end || *out < 0 ? -1 : 0;
}

/* NULL when argv[i] is "--events" with a good value (in *n_events; the
 * text in *had, which holds the value given before, if any), else what is
 * wrong with argv[i] (in why). */
static const char *events_arg_problem(int argc, char **argv, int i, long *n_events,
				      const char **had, char *why, size_t why_size)
{
	if (strcmp(argv[i], "--events") != 0)
		cli_arg_problem(argv, argc, i, NULL, why, why_size);
	else if (i + 1 >= argc)
		snprintf(why, why_size, "--events needs a value (all, or a number of events)");
	else if (*had)
		cli_given_twice(argv[i], *had, argv[i + 1], why, why_size);
	else if (parse_events_arg(argv[i + 1], n_events) != 0)
		snprintf(why, why_size, "--events: \"%.100s\" is not all or a number of events",
			 argv[i + 1]);
	else {
		*had = argv[i + 1];
		return NULL;
	}
	return why;
}

/* One profile's document on a line of stdout (`view`: the document of a
 * lookup, as the API gives it; else dump's): 1, 0 when there is no such
 * profile, -1 with the store's error set (a write to stdout that failed
 * included: a full disk must not look like a whole dump). */
static int print_doc(struct store *s, const char *pid, long n_events, int view)
{
	json_t *doc = NULL;
	int rc = view ? profile_doc_view(s, pid, n_events, &doc)
		      : profile_doc_build(s, pid, n_events, &doc);
	if (rc == 1) {
		char *text = json_dumps_whole(doc, JSON_COMPACT | HUB_JSON_REAL);
		json_decref(doc);
		if (!text) {
			err_set(s->err, sizeof(s->err), "out of memory");
			return -1;
		}
		rc = puts(text) == EOF ? -1 : 1;
		free(text);
		if (rc < 0)
			err_set(s->err, sizeof(s->err), "cannot write to stdout: %s",
				strerror(errno));
	}
	return rc;
}

/* What print_doc wrote reached the file: 0, or -1 with the error set. */
static int print_flush(struct store *s)
{
	if (cli_stdout_flush() == 0)
		return 0;
	err_set(s->err, sizeof(s->err), "cannot write to stdout: %s",
		strerror(cli_stdout_errno()));
	return -1;
}

/* Reads of one command share one snapshot (a write transaction would stop
 * every writer; statements on their own would mix commits). */
static int read_snapshot_begin(struct store *s)
{
	return s->ops->read_begin ? s->ops->read_begin(s) : 0;
}

static void read_snapshot_end(struct store *s)
{
	if (s->ops->read_end)
		s->ops->read_end(s);
}

struct id_page {
	char ids[500][PROFILE_ID_SIZE];
	size_t n;
};

static int page_add(void *ctx, const struct store_profile *p)
{
	struct id_page *pg = ctx;
	memcpy(pg->ids[pg->n++], p->id, PROFILE_ID_SIZE);
	return 0;
}

int cmd_dump(struct cli *cli, int argc, char **argv)
{
	long n_events = PROFILE_EVENTS_DEFAULT;
	struct id_page *pg;
	struct store *s = NULL;
	char after[PROFILE_ID_SIZE] = "";
	const char *events = NULL;
	int rc = CLI_FAIL, is_reading = 0;

	for (int i = 1; i < argc; i += 2) { /* --events and its value */
		char buf[256];
		const char *why = events_arg_problem(argc, argv, i, &n_events, &events, buf,
						     sizeof(buf));

		if (why)
			return cli_misuse("dump", "profilehub dump [--events all|N]", "%s", why);
	}
	if (cli_load_config_lazy_env(cli) || cli_open_existing_store(cli, &s))
		return CLI_FAIL;
	pg = hub_malloc(sizeof(*pg));
	if (!pg || read_snapshot_begin(s))
		goto out;
	is_reading = 1;
	for (;;) {
		pg->n = 0;
		if (s->ops->profile_iter_live(s, after, 500, page_add, pg))
			goto out;
		for (size_t i = 0; i < pg->n; i++)
			if (print_doc(s, pg->ids[i], n_events, 0) < 0)
				goto out;
		if (pg->n < 500)
			break;
		memcpy(after, pg->ids[pg->n - 1], PROFILE_ID_SIZE);
	}
	if (print_flush(s))
		goto out;
	rc = CLI_OK;
out:
	if (rc != CLI_OK)
		cli_error("dump", "%s", pg ? store_error(s) : "out of memory");
	if (is_reading)
		read_snapshot_end(s);
	store_close(s);
	hub_free(pg);
	return rc;
}

/* ---- profile -------------------------------------------------------- */

struct lookup {
	const char *by;    /* custom_id installation_id email phone profile_id,
			    * or an external id (by_external) */
	const char *flag;  /* as given: "--custom-id" */
	const char *value;
	const char *after; /* --after P: the page after profile P (email, phone) */
	char by_external[64]; /* --external TYPE=VALUE: TYPE */
};

/* --external TYPE=VALUE into lk (by and value); 0, or -1 with why.  That
 * TYPE is an external id of the configuration is checked once it is
 * loaded (lookup_check_external). */
static int lookup_external(const char *arg, struct lookup *lk, char *why, size_t why_size)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : 0;

	if (!eq || n == 0 || n >= sizeof(lk->by_external) || !eq[1]) {
		snprintf(why, why_size, "--external takes TYPE=VALUE (crm_id=K7): an external id"
			 " type of identity.external and its value");
		return -1;
	}
	memcpy(lk->by_external, arg, n);
	lk->by_external[n] = '\0';
	lk->by = lk->by_external;
	lk->value = eq + 1;
	return 0;
}

/* 0 when lk is no --external, or names a person key of cfg; else -1 with
 * why, naming the types the configuration has. */
static int lookup_check_external(const struct hub_config *cfg, const struct lookup *lk,
				 char *why, size_t why_size)
{
	char keys[256];

	if (strcmp(lk->flag, "--external") != 0 || config_person_key(cfg, lk->by))
		return 0;
	snprintf(why, why_size, "--external %s: not an external id of identity.external (a"
		 " person is named by %s)", lk->by, config_person_keys(cfg, keys, sizeof(keys)));
	return -1;
}

/* Reads a lookup flag (and --events where n_events is given).  Returns 0,
 * or -1 with what is wrong in why. */
static int lookup_parse(int argc, char **argv, struct lookup *lk, long *n_events, char *why,
			size_t why_size)
{
	static const struct { const char *flag, *by; } flags[] = {
		{"--custom-id", "custom_id"}, {"--installation-id", "installation_id"},
		{"--email", "email"},         {"--phone", "phone"},
		{"--profile-id", "profile_id"}, {"--external", NULL},
	};
	const char *events = NULL;

	for (int i = 1; i < argc; i++) {
		size_t f;

		for (f = 0; f < ARRAY_SIZE(flags) && strcmp(argv[i], flags[f].flag) != 0; f++)
			;
		if (f < ARRAY_SIZE(flags)) {
			if (i + 1 >= argc) {
				snprintf(why, why_size, "%s needs a value", argv[i]);
				return -1;
			}
			if (lk->by) {
				snprintf(why, why_size, "one lookup at a time: %s after %s",
					 argv[i], lk->flag);
				return -1;
			}
			lk->by = flags[f].by;
			lk->flag = flags[f].flag;
			lk->value = argv[++i];
			if (!lk->value[0]) {
				/* no identifier is empty: a misuse, as the API's 400 */
				snprintf(why, why_size, "%s: an empty value (no identifier is"
					 " empty)", argv[i - 1]);
				return -1;
			}
			if (!lk->by && lookup_external(lk->value, lk, why, why_size))
				return -1;
			if (!str_is_utf8(lk->value)) {
				/* no identifier is stored so: say it, not "not found" */
				snprintf(why, why_size, "%s: not valid UTF-8", argv[i - 1]);
				return -1;
			}
			continue;
		}
		if (n_events && strcmp(argv[i], "--after") == 0) {
			if (i + 1 >= argc || !argv[i + 1][0]) {
				snprintf(why, why_size, "--after needs a profile ID (the one the"
					 " previous page's note names)");
				return -1;
			}
			if (lk->after) {
				cli_given_twice("--after", lk->after, argv[i + 1], why, why_size);
				return -1;
			}
			lk->after = argv[++i];
			continue;
		}
		if (!n_events) {
			cli_arg_problem(argv, argc, i, NULL, why, why_size);
			return -1;
		}
		if (events_arg_problem(argc, argv, i, n_events, &events, why, why_size))
			return -1;
		i++; /* --events' value */
	}
	if (!lk->by) {
		snprintf(why, why_size, "a lookup is needed (--custom-id, --installation-id, ...)");
		return -1;
	}
	if (lk->after && strcmp(lk->by, "email") != 0 && strcmp(lk->by, "phone") != 0) {
		snprintf(why, why_size, "--after pages an --email or --phone lookup (%s finds one"
			 " profile at most)", lk->flag);
		return -1;
	}
	return 0;
}

#define FOUND_MAX 64 /* profiles printed for one lookup (an email many share) */

struct found {
	/* two more: to know there are more, past the identifier's holder
	 * that a later page leaves out (profile_find_after) */
	char ids[FOUND_MAX + 2][PROFILE_ID_SIZE];
	size_t n;
	int is_more; /* more match than the n printed */
};

/* Resolves a lookup to live profile IDs, at most FOUND_MAX, the page
 * after lk->after when given.  Returns 0 or -1. */
static int lookup_run(struct store *s, const struct lookup *lk, struct found *f)
{
	int n = profile_find_after(s, lk->by, lk->value, lk->after ? lk->after : "", f->ids,
				   ARRAY_SIZE(f->ids));
	f->n = n > 0 ? (size_t)n : 0;
	f->is_more = f->n > FOUND_MAX;
	if (f->is_more)
		f->n = FOUND_MAX;
	return n < 0 ? -1 : 0;
}

/* Said on stderr after a page that is not the last: how to see the next. */
static void lookup_tell_more(const struct lookup *lk, const struct found *f)
{
	cli_error("profile", "more than %d profiles have this %s%s: the first %d are printed;"
		  " the next ones: the same command with --after %s", FOUND_MAX, lk->by,
		  lk->after ? " past --after" : "", FOUND_MAX, f->ids[f->n - 1]);
}

/* -1 with why when lk looks a profile up by a malformed ID (--profile-id
 * xyz), as the API's routes refuse one, or pages past one (--after xyz:
 * the API refuses such an `after` as invalid_cursor); else 0.  `profile`
 * said "no profile with profile_id" (exit 1), as of a well-formed ID no
 * profile has, and took any --after as a place in the order of profile IDs
 * (--after a printed every profile again, the first page's too). */
static int lookup_check_profile_id(const struct lookup *lk, char *why, size_t size)
{
	if (lk->after && !store_profile_id_is_valid(lk->after)) {
		snprintf(why, size, "--after: \"%.64s\" is not a profile ID (" PROFILE_ID_SHAPE
			 "): the one the previous page's note names", lk->after);
		return -1;
	}
	if (strcmp(lk->by, "profile_id") != 0 || store_profile_id_is_valid(lk->value))
		return 0;
	snprintf(why, size, "--profile-id: \"%.64s\" is not a profile ID (" PROFILE_ID_SHAPE ")",
		 lk->value);
	return -1;
}

static const char profile_usage[] =
	"profilehub profile (--custom-id C | --installation-id I | --email E | --phone P"
	" | --profile-id P | --external TYPE=VALUE) [--after P] [--events all|N]";

int cmd_profile(struct cli *cli, int argc, char **argv)
{
	struct lookup lk = {0};
	long n_events = PROFILE_EVENTS_DEFAULT;
	struct found f;
	struct store *s;
	char why[256];
	int rc = CLI_FAIL, is_reading = 0, is_told = 0;

	if (lookup_parse(argc, argv, &lk, &n_events, why, sizeof(why)) ||
	    lookup_check_profile_id(&lk, why, sizeof(why)))
		return cli_misuse("profile", profile_usage, "%s", why);
	if (cli_load_config_lazy_env(cli))
		return CLI_FAIL;
	if (lookup_check_external(cli->cfg, &lk, why, sizeof(why)))
		return cli_misuse("profile", profile_usage, "%s", why);
	if (cli_open_existing_store(cli, &s))
		return CLI_FAIL;
	if (read_snapshot_begin(s))
		goto out;
	is_reading = 1;
	if (lookup_run(s, &lk, &f))
		goto out;
	for (size_t i = 0; i < f.n; i++)
		if (print_doc(s, f.ids[i], n_events, 1) < 0)
			goto out;
	if (print_flush(s))
		goto out;
	if (f.is_more)
		lookup_tell_more(&lk, &f);
	if (f.n == 0 && lk.after) {
		cli_error("profile", "no profile with %s \"%s\" after %s", lk.by, lk.value,
			  lk.after);
		is_told = 1;
		goto out;
	}
	if (f.n == 0) {
		cli_error("profile", "no profile with %s \"%s\"", lk.by, lk.value);
		is_told = 1;
		goto out;
	}
	rc = CLI_OK;
out:
	if (rc != CLI_OK && !is_told) /* a store's failure */
		cli_error("profile", "%s", store_error(s));
	if (is_reading)
		read_snapshot_end(s);
	store_close(s);
	return rc;
}

/* ---- privacy -------------------------------------------------------- */

/* access_doc_sink: straight to stdout; a failure's errno in *(int *)ctx. */
static int stdout_sink(void *ctx, const char *data, size_t len)
{
	if (fwrite(data, 1, len, stdout) == len)
		return 0;
	*(int *)ctx = errno ? errno : EIO;
	return -1;
}

/* The access document to stdout as it is read (access_doc.c: a page of
 * events at a time, whatever their number), all of one read snapshot.  A
 * failure midway leaves a cut-short document, never valid JSON, and exit
 * status 1. */
static int privacy_access(struct cli *cli, const struct lookup *lk)
{
	struct found f;
	struct store *s;
	struct access_doc_writer *w = NULL;
	json_t *head = json_pack("{s:s}", "type", "access");
	int rc = CLI_FAIL, step, is_reading = 0, write_errno = 0;

	if (!head || cli_open_existing_store(cli, &s)) {
		json_decref(head);
		return CLI_FAIL;
	}
	if (read_snapshot_begin(s))
		goto out;
	is_reading = 1;
	if (lookup_run(s, lk, &f))
		goto out;
	if (f.n == 0 && strcmp(lk->by, "profile_id") == 0) {
		err_set(s->err, sizeof(s->err), "no profile %s", lk->value);
		goto out;
	}
	w = access_doc_writer_new(s, cli->cfg, head, NULL, lk->by, lk->value,
				  (const char(*)[PROFILE_ID_SIZE])f.ids, f.n,
				  JSON_INDENT(2) | HUB_JSON_REAL, stdout_sink, &write_errno);
	if (!w) {
		err_set(s->err, sizeof(s->err), "out of memory");
		goto out;
	}
	while ((step = access_doc_writer_step(w)) > 0)
		continue;
	if (step < 0) {
		if (write_errno)
			err_set(s->err, sizeof(s->err), "cannot write to stdout: %s",
				strerror(write_errno));
		goto out;
	}
	if (fputs("\n", stdout) == EOF || print_flush(s))
		goto out;
	rc = CLI_OK;
out:
	if (rc != CLI_OK) {
		fflush(stdout); /* what was written, before the message */
		cli_error("privacy", "%s", store_error(s));
	}
	access_doc_writer_free(w);
	if (is_reading)
		read_snapshot_end(s);
	store_close(s);
	json_decref(head);
	return rc;
}

/* Before an erase, the blocks of earlier erases that are long over go
 * (privacy.c), as `run` does every hour: a store used without `run` keeps
 * no erased identifiers for ever either.  A failure is only a warning. */
static void privacy_erase_prune(struct store *s, const struct hub_config *cfg)
{
	size_t n = 0;

	if (privacy_blocks_prune(s, cfg->erase_block_days, time_now_ms(), NULL, &n))
		cli_error("privacy", "deleting the erase blocks that are over: %s (the erase goes"
			  " on)", store_error(s));
}

/* An erase by profile ID needs the profile (live, or merged into a live
 * one): else it says so, and nothing is stored.  0, or -1 told. */
static int privacy_erase_profile_check(struct store *s, const struct lookup *lk)
{
	char live[PROFILE_ID_SIZE];
	int rc;

	if (strcmp(lk->by, "profile_id") != 0)
		return 0;
	if (read_snapshot_begin(s)) { /* no snapshot: no check, so no erase */
		cli_error("privacy", "%s", store_error(s));
		return -1;
	}
	if ((rc = profile_resolve_id(s, lk->value, live)) < 0)
		cli_error("privacy", "%s", store_error(s));
	else if (rc == 0)
		cli_error("privacy", "no profile %s: nothing was erased", lk->value);
	read_snapshot_end(s);
	return rc == 1 ? 0 : -1;
}

/* The answer of an erase that is done (text: taken; NULL, out of memory)
 * on stdout: CLI_OK, or CLI_FAIL saying that the erase is done all the
 * same, with its request ID (a full disk said only "cannot write to
 * stdout", as if the erase had failed; no memory, nothing at all, exit 0). */
static int privacy_erase_answer(const char *id, char *text)
{
	const char *why = "out of memory";

	if (text) {
		int put_errno = 0;

		errno = 0;
		if (puts(text) == EOF) /* a line-buffered stdout: written, and failed, here */
			put_errno = errno ? errno : EIO;
		else if (cli_stdout_flush())
			put_errno = cli_stdout_errno();
		free(text);
		if (!put_errno)
			return CLI_OK;
		why = strerror(put_errno);
	}
	cli_error("privacy", "the erase is done (request %s), but its answer was not written"
		  " to stdout: %s", id, why);
	return CLI_FAIL;
}

/* An erase goes through the intake like any record (privacy.c). */
static int privacy_erase(struct cli *cli, const struct lookup *lk)
{
	struct record_rules rules;
	struct intake *in = NULL;
	struct store *s;
	char err[512], id[32];
	json_t *out, *warnings = NULL;
	char *text;
	hub_rc rc;

	/* an ID as the API's requests have: the erase's record names it */
	if (privacy_request_id_new(id, sizeof(id), err, sizeof(err))) {
		cli_error("privacy", "%s", err);
		return CLI_FAIL;
	}
	if (cli_open_existing_store(cli, &s))
		return CLI_FAIL;
	if (privacy_erase_profile_check(s, lk)) {
		store_close(s);
		return CLI_FAIL;
	}
	privacy_erase_prune(s, cli->cfg);
	if (intake_start(&in, s, cli->cfg, err, sizeof(err))) {
		cli_error("privacy", "%s", err);
		store_close(s);
		return CLI_FAIL;
	}
	cli_record_rules(cli->cfg, &rules);
	rc = privacy_erase_submit(in, &rules, lk->by, lk->value, id, &warnings, err, sizeof(err));
	intake_stop(in);
	if (rc == HUB_ERR_DATA || rc == HUB_ERR_NOMEM) {
		cli_error("privacy", "erase failed: %s", err);
		return CLI_FAIL;
	}
	if (rc != HUB_OK) { /* err says the erase was not done, or may not be */
		cli_error("privacy", "%s", err);
		return CLI_FAIL;
	}
	/* as the API's answer: the profiles a refused merge left apart, not
	 * erased, are its warnings */
	out = json_pack("{s:s, s:s, s:s, s:s, s:o*}", "id", id, "type", "erase", "status", "done",
			lk->by, lk->value, "warnings", warnings);
	text = out ? json_dumps_whole(out, JSON_COMPACT) : NULL;
	json_decref(out);
	return privacy_erase_answer(id, text);
}

int cmd_privacy(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
		"profilehub privacy (access|erase) (--custom-id C | --installation-id I"
		" | --external TYPE=VALUE | --profile-id P)";
	struct lookup lk = {0};
	char why[256];

	if (argc < 2)
		return cli_misuse("privacy", usage, "access or erase is needed");
	if (strcmp(argv[1], "access") != 0 && strcmp(argv[1], "erase") != 0)
		return cli_misuse("privacy", usage, "\"%s\" is not access or erase", argv[1]);
	if (lookup_parse(argc - 1, argv + 1, &lk, NULL, why, sizeof(why)))
		return cli_misuse("privacy", usage, "%s", why);
	if (strcmp(lk.by, "custom_id") != 0 && strcmp(lk.by, "installation_id") != 0 &&
	    strcmp(lk.by, "profile_id") != 0 && strcmp(lk.flag, "--external") != 0)
		return cli_misuse("privacy", usage, "a request names --custom-id,"
				  " --installation-id, --external or --profile-id, not %s",
				  lk.flag);
	if (lookup_check_profile_id(&lk, why, sizeof(why)))
		return cli_misuse("privacy", usage, "%s", why);
	if (cli_load_config_lazy_env(cli))
		return CLI_FAIL;
	if (lookup_check_external(cli->cfg, &lk, why, sizeof(why)))
		return cli_misuse("privacy", usage, "%s", why);
	if (strcmp(argv[1], "access") == 0)
		return privacy_access(cli, &lk);
	return privacy_erase(cli, &lk);
}
