// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What every command prints with: the usage error, escaping of text from the
 * store and the kernel, tables sized to their content, JSON.
 */
#include <stdarg.h>

#include <libsmartcols/libsmartcols.h>

#include "ctl.h"

int bad(const char *fmt, ...)
{
	va_list ap;

	fputs("unitguardctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

/*
 * Text from the store or the kernel (comments, unit names, paths, a process's comm) is
 * printed through esc(), so that it cannot drive the terminal (ug_text_escape). The
 * escaped copies live in *e until esc_free(): one struct esc per printed row.
 */
/* A malloc()'d escaped copy of s; NULL when out of memory. */
char *esc_dup(const char *s)
{
	size_t n = ug_text_escape(s, NULL, 0);
	char *buf = malloc(n + 1);

	if (buf)
		ug_text_escape(s, buf, n + 1);
	return buf;
}

const char *esc(struct esc *e, const char *s)
{
	char *buf;

	/* Every escape is longer than what it stands for: the same length, nothing to do. */
	if (!s || ug_text_escape(s, NULL, 0) == strlen(s))
		return s;
	if (e->n == (int)(sizeof(e->p) / sizeof(e->p[0])) || !(buf = esc_dup(s)))
		return "(not shown: out of memory)";
	e->p[e->n++] = buf;
	return buf;
}

void esc_free(struct esc *e)
{
	while (e->n)
		free(e->p[--e->n]);
}

/*
 * A plain table (rule list, unit list and show, status): columns sized to their content
 * by libsmartcols, never cut or wrapped whatever the terminal, so a script reads the same
 * lines everywhere. Cells come escaped (esc()) and are not encoded again. A row may carry
 * lines of its own, printed under it (status's cgroup and open lines).
 */
/* right: bit i set, column i is aligned to the right (numbers). */
int table_new(struct table *t, const char *const *names, size_t n, unsigned right)
{
	*t = (struct table){ .names = names, .n = n };
	t->tb = scols_new_table();
	if (!t->tb)
		return -ENOMEM;
	scols_table_enable_noencoding(t->tb, 1);
	scols_table_set_termforce(t->tb, SCOLS_TERMFORCE_NEVER);
	for (size_t i = 0; i < n; i++)
		if (!scols_table_new_column(t->tb, names[i], 0,
					    right & (1u << i) ? SCOLS_FL_RIGHT : 0))
			return -ENOMEM;
	return 0;
}

static int table_line(struct table *t, const char *const *cells, const char *under)
{
	struct libscols_line *ln = scols_table_new_line(t->tb, NULL);
	char **u = reallocarray(t->under, t->rows + 1, sizeof(*u));

	if (!ln || !u)
		return -ENOMEM;
	t->under = u;
	u[t->rows] = under ? strdup(under) : NULL;
	t->rows++;
	if (under && !u[t->rows - 1])
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++)
		if (scols_line_set_data(ln, i, cells[i] ?: ""))
			return -ENOMEM;
	return 0;
}

/* A row of cells, escaped into e (emptied here: the table keeps copies), and the text
 * printed under it, or NULL. */
int table_row(struct table *t, const char *const *cells, const char *under, struct esc *e)
{
	int err = table_line(t, cells, under);

	esc_free(e);
	return err;
}

int table_print(struct table *t)
{
	char *text = NULL, *line, *next;
	size_t i = 0;

	/* libsmartcols prints nothing at all for no rows: the header still says what is
	 * listed. */
	if (!t->rows) {
		for (size_t c = 0; c < t->n; c++)
			printf("%s%s", t->names[c], c + 1 < t->n ? " " : "\n");
		return 0;
	}
	if (scols_print_table_to_string(t->tb, &text) || !text)
		return -ENOMEM;
	/* The header, then one line per row: nothing wraps. */
	for (line = text; line && *line; line = next, i++) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		puts(line);
		if (i && i <= t->rows && t->under[i - 1])
			fputs(t->under[i - 1], stdout);
	}
	free(text);
	return 0;
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->rows; i++)
		free(t->under[i]);
	free(t->under);
	scols_unref_table(t->tb);
	t->tb = NULL;
}

void ports_text(uint32_t lo, uint32_t hi, char *buf, size_t len)
{
	if (!lo)
		snprintf(buf, len, "any");
	else if (lo == hi)
		snprintf(buf, len, "%u", lo);
	else
		snprintf(buf, len, "%u-%u", lo, hi);
}

void json_add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

int print_json(json_object *arr)
{
	const char *s = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
							    JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!s)
		return 1;
	puts(s);
	return 0;
}

/* Append one element of size to *v (n of them), zeroed; NULL when out of memory. */
void *grow(void *v, size_t *n, size_t size)
{
	char *p = realloc(*(void **)v, (*n + 1) * size);

	if (!p)
		return NULL;
	*(void **)v = p;
	memset(p + *n * size, 0, size);
	return p + (*n)++ * size;
}
