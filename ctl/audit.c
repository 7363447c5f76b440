// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * audit: the recorded denials, as rows, JSON, a stream or the report views.
 */
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

/* How audit rows are printed: a table, a JSON array, or JSON Lines. */
struct audit_out {
	enum { OUT_TABLE, OUT_ARRAY, OUT_LINES } form;
	size_t n;
	int64_t last_id;
};

static int print_audit(const struct ug_store_audit *a, void *ctx)
{
	const struct ug_audit_row *r = &a->row;
	struct audit_out *out = ctx;
	struct esc e = { 0 };
	const char *text;
	json_object *o;
	char rule[24];
	int err = 0;

	out->last_id = a->id;
	if (out->form == OUT_TABLE) {
		if (r->rule_id)
			snprintf(rule, sizeof(rule), "%" PRId64, r->rule_id);
		else
			snprintf(rule, sizeof(rule), "default");
		printf("%-27s %-24s %-6s %-10s %-5s %-39s %-5u %-7u %-15s %-7s %-5u %" PRIu64 "\n",
		       esc(&e, a->time), esc(&e, r->unit) ?: "-", esc(&e, r->verdict) ?: "-",
		       esc(&e, r->hook) ?: "-", esc(&e, r->protocol) ?: "-",
		       esc(&e, r->address ?: r->path ?: r->detail) ?: "-", r->port, r->pid,
		       esc(&e, r->comm) ?: "-", rule, r->generation, r->count);
		esc_free(&e);
		out->n++;
		return 0;
	}
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "id", json_object_new_int64(a->id));
	json_add_str(o, "time", a->time);
	json_object_object_add(o, "time_us", json_object_new_int64(r->time_us));
	json_object_object_add(o, "first_time_us", json_object_new_int64(r->first_time_us));
	json_object_object_add(o, "count", json_object_new_uint64(r->count));
	json_add_str(o, "unit", r->unit);
	json_object_object_add(o, "cgroup_id", json_object_new_uint64(r->cgroup_id));
	json_object_object_add(o, "pid", json_object_new_int64(r->pid));
	json_object_object_add(o, "uid", json_object_new_int64(r->uid));
	json_add_str(o, "comm", r->comm);
	json_add_str(o, "family", r->family);
	json_add_str(o, "protocol", r->protocol);
	json_add_str(o, "address", r->address);
	json_object_object_add(o, "port", json_object_new_int64(r->port));
	json_add_str(o, "hook", r->hook);
	json_add_str(o, "direction", r->direction);
	json_add_str(o, "verdict", r->verdict);
	json_object_object_add(o, "rule_id", r->rule_id ? json_object_new_int64(r->rule_id) : NULL);
	json_object_object_add(o, "generation", json_object_new_int64(r->generation));
	json_add_str(o, "path", r->path);
	json_add_str(o, "exe", r->exe);
	json_add_str(o, "detail", r->detail);
	/* Row by row, never the whole table in memory. */
	text = json_object_to_json_string_ext(o, out->form == OUT_LINES ? JSON_C_TO_STRING_PLAIN
						 : JSON_C_TO_STRING_PRETTY |
						   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text)
		err = -ENOMEM;
	else if (out->form == OUT_LINES)
		printf("%s\n", text);
	else
		printf("%s%s", out->n ? ",\n" : "[\n", text);
	out->n++;
	json_object_put(o);
	return err;
}

/* One report as a table (columns sized to the content) or a JSON array. */
struct report_rows {
	int n;
	char cols[UG_REPORT_COLS_MAX][32];
	char **cells; /* rows * n, owned */
	size_t rows;
	int err;
};

static int keep_report_row(int n, const char *const *cols, const char *const *vals, void *ctx)
{
	struct report_rows *r = ctx;
	char **cells = reallocarray(r->cells, (r->rows + 1) * n, sizeof(*cells));

	if (!cells)
		return -ENOMEM;
	r->cells = cells;
	r->n = n;
	for (int c = 0; c < n; c++) {
		snprintf(r->cols[c], sizeof(r->cols[c]), "%s", cols[c]);
		cells[r->rows * n + c] = strdup(vals[c] ? vals[c] : "-");
		if (!cells[r->rows * n + c])
			r->err = -ENOMEM;
	}
	r->rows++;
	return r->err;
}

static int print_report(const char *name, struct report_rows *r, json_object *all)
{
	json_object *arr;
	int width[UG_REPORT_COLS_MAX];

	if (all) {
		arr = json_object_new_array();
		if (!arr)
			return -ENOMEM;
		for (size_t i = 0; i < r->rows; i++) {
			json_object *o = json_object_new_object();

			if (!o)
				return -ENOMEM;
			for (int c = 0; c < r->n; c++) {
				const char *v = r->cells[i * r->n + c];

				json_object_object_add(o, r->cols[c], strcmp(v, "-") ?
						       json_object_new_string(v) : NULL);
			}
			json_object_array_add(arr, o);
		}
		json_object_object_add(all, name, arr);
		return 0;
	}
	printf("== %s ==\n", name);
	if (!r->rows) {
		printf("(none)\n\n");
		return 0;
	}
	/* Escaped in place for the table (JSON above takes them as they are). */
	for (size_t k = 0; k < r->rows * r->n; k++) {
		char *x = esc_dup(r->cells[k]);

		if (!x)
			return -ENOMEM;
		free(r->cells[k]);
		r->cells[k] = x;
	}
	for (int c = 0; c < r->n; c++) {
		width[c] = (int)strlen(r->cols[c]);
		for (size_t i = 0; i < r->rows; i++)
			if ((int)strlen(r->cells[i * r->n + c]) > width[c])
				width[c] = (int)strlen(r->cells[i * r->n + c]);
	}
	for (int c = 0; c < r->n; c++)
		printf("%-*s%s", width[c], r->cols[c], c + 1 < r->n ? "  " : "\n");
	for (size_t i = 0; i < r->rows; i++)
		for (int c = 0; c < r->n; c++)
			printf("%-*s%s", width[c], r->cells[i * r->n + c], c + 1 < r->n ? "  " : "\n");
	printf("\n");
	return 0;
}

/* audit --summary: every report of the store (db/store.h), 20 rows each. */
static int audit_summary(struct ug_store *st, const char *unit, bool json)
{
	json_object *all = json ? json_object_new_object() : NULL;
	int err = 0;

	if (json && !all)
		return 1;
	for (size_t i = 0; !err && ug_store_report_name(i); i++) {
		struct report_rows r = { 0 };

		err = ug_store_report(st, ug_store_report_name(i), unit, 20, keep_report_row, &r);
		if (err)
			fprintf(stderr, "unitguardctl: audit --summary: %s\n",
				err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
		else
			err = print_report(ug_store_report_name(i), &r, all);
		for (size_t k = 0; k < r.rows * r.n; k++)
			free(r.cells[k]);
		free(r.cells);
	}
	if (!err && all)
		err = print_json(all);
	json_object_put(all);
	return err ? 1 : 0;
}

static volatile sig_atomic_t stop_follow;

static void on_stop_signal(int sig)
{
	stop_follow = 1;
}

/* audit [--unit TARGET] [--since T] [--until T] [--follow] [--summary]: the denials. */
int audit(int argc, char **argv, const struct sub_opts *o)
{
	struct audit_out out = { .form = OUT_TABLE };
	struct ug_audit_filter f = { 0 };
	struct ug_store *st;
	struct timespec ts;
	int64_t now, max_id = 0;
	int err = 0;

	if (o->unit) {
		err = check_target(o->unit);
		if (err)
			return err;
	}
	if (o->summary && (o->follow || o->since || o->until))
		return bad("audit: --summary reports over the whole store; it takes no --since, "
			   "--until or --follow (query the views with sqlite3 for a period)");
	if (o->follow && o->until)
		return bad("audit: --follow and --until exclude each other");
	if (open_store(UG_STORE_READONLY, &st))
		return 1;
	if (o->summary) {
		err = audit_summary(st, o->unit, o->json);
		ug_store_close(st);
		return err;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	for (int i = 0; i < 2; i++) {
		const char *text = i ? o->until : o->since;

		if (!text)
			continue;
		*(i ? &f.has_until : &f.has_since) = true;
		if (ug_store_parse_time(st, text, now, i ? &f.until_us : &f.since_us)) {
			fprintf(stderr, "unitguardctl: audit: --%s: %s\n", i ? "until" : "since",
				ug_store_errmsg(st));
			ug_store_close(st);
			return EXIT_USAGE;
		}
	}
	f.unit = o->unit;
	if (o->json)
		out.form = o->follow ? OUT_LINES : OUT_ARRAY;
	else
		printf("%-27s %-24s %-6s %-10s %-5s %-39s %-5s %-7s %-15s %-7s %-5s %s\n", "TIME",
		       "UNIT", "VERDICT", "HOOK", "PROTO", "ADDRESS/PATH", "PORT", "PID", "COMM",
		       "RULE", "GEN", "COUNT");
	/* Where following starts: read before the rows are listed, so a row
	 * stored meanwhile is printed once, by one or the other. */
	if (o->follow)
		err = ug_store_audit_max_id(st, &max_id);
	if (!err)
		err = ug_store_audit_query(st, &f, print_audit, &out);
	if (out.form == OUT_ARRAY && !err)
		printf("%s]\n", out.n ? "\n" : "[");
	if (o->follow && !err) {
		/* Like journalctl -f: new rows as the agent stores them, until a
		 * signal. Only rows after the last one seen. */
		signal(SIGINT, on_stop_signal);
		signal(SIGTERM, on_stop_signal);
		signal(SIGPIPE, on_stop_signal);
		f.after_id = out.last_id > max_id ? out.last_id : max_id;
		while (!stop_follow && !err) {
			fflush(stdout);
			usleep(200 * 1000);
			/* Ids start again at 1 when retention emptied the table. */
			err = ug_store_audit_max_id(st, &max_id);
			if (!err && max_id < f.after_id)
				f.after_id = 0;
			if (!err)
				err = ug_store_audit_query(st, &f, print_audit, &out);
			if (!err && out.last_id > f.after_id)
				f.after_id = out.last_id;
			if (err == -EBUSY)
				err = 0; /* the agent is writing: next time */
		}
	}
	if (err)
		fprintf(stderr, "unitguardctl: audit: %s\n",
			err == -ENOMEM ? strerror(ENOMEM) : ug_store_errmsg(st));
	ug_store_close(st);
	return err ? 1 : 0;
}
