/*
 * What a long command (prefill, import, export) shows while it works, on
 * standard error: one rule for all of them.
 *
 * On a terminal, a line for the whole job (its title) and one per item in
 * flight (a layer, a blob), each with a bar, percent, bytes, rate and time
 * left, redrawn in place (cursor up, erase line) at most five times a
 * second; an item that ends leaves one line above them, as docker's
 * "Pull complete" does. On a pipe or a file, plain lines at a steady pace:
 * one per item done and a summary of the whole every five seconds, then
 * one at the end. Bytes are counted by the caller (progress_add); drawing
 * happens only in progress_show and progress_free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define PROGRESS_REDRAW_MS	200	/* a terminal: five redraws a second */
#define PROGRESS_SUMMARY_MS	5000	/* a pipe: a summary line this often */
#define PROGRESS_ITEMS_MAX	4096	/* more are counted in the title only */
#define PROGRESS_BAR		20
#define PROGRESS_NAME		24	/* columns of a name on a terminal */

struct progress_item {
	char		 name[80];
	int64_t		 done, total;	/* total <= 0: unknown */
	int64_t		 started_ms;
	int		 state;		/* 0 running, 1 ok, 2 failed */
	int		 shown;		/* its end is drawn */
};

struct progress {
	FILE			*out;
	int			 tty;
	char			 title[200];
	int64_t			 done, total;
	int64_t			 started_ms, drawn_ms;
	int			 lines;		/* redrawn lines on screen */
	int			 ended;		/* items ended */
	size_t			 count;		/* items to come; 0: not known */
	struct progress_item	*items;
	size_t			 n, cap;
};

/* "12.3 MB" and the like. */
static void
progress_bytes(int64_t n, char *buf, size_t len)
{
	static const char	*unit[] = { "B", "kB", "MB", "GB", "TB" };
	double			 v = (double)n;
	int			 u = 0;

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lld B", (long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
}

/* "1:05" or "1:02:03"; "--:--" when unknown. */
static void
progress_duration(int64_t secs, char *buf, size_t len)
{
	if (secs < 0 || secs > 99 * 3600)
		snprintf(buf, len, "--:--");
	else if (secs >= 3600)
		snprintf(buf, len, "%lld:%02lld:%02lld", (long long)(secs / 3600),
		    (long long)(secs / 60 % 60), (long long)(secs % 60));
	else
		snprintf(buf, len, "%lld:%02lld", (long long)(secs / 60),
		    (long long)(secs % 60));
}

/*
 * One line's figures: "[=====>    ]  45%  12.3 MB / 27.1 MB  8.4 MB/s
 * 0:03 left" (no bar without a total).
 */
static void
progress_figures(int64_t done, int64_t total, int64_t ms, int bar, char *buf,
    size_t len)
{
	char	b[PROGRESS_BAR + 1], d[32], t[32], r[32], left[32];
	double	rate = ms > 0 ? (double)done * 1000 / (double)ms : 0;
	int	pct, fill, i;

	progress_bytes(done, d, sizeof d);
	progress_bytes((int64_t)rate, r, sizeof r);
	if (total <= 0) {
		snprintf(buf, len, "%s  %s/s", d, r);
		return;
	}
	if (done > total)
		done = total;
	pct = (int)(done * 100 / total);
	progress_bytes(total, t, sizeof t);
	progress_duration(rate > 0 ? (int64_t)((double)(total - done) / rate) :
	    -1, left, sizeof left);
	if (!bar) {
		snprintf(buf, len, "%d%%  %s / %s  %s/s  %s left", pct, d, t, r,
		    left);
		return;
	}
	fill = (int)(done * PROGRESS_BAR / total);
	for (i = 0; i < PROGRESS_BAR; i++)
		b[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
	b[PROGRESS_BAR] = '\0';
	snprintf(buf, len, "[%s] %3d%%  %s / %s  %s/s  %s left", b, pct, d, t,
	    r, left);
}

/* A progress display for a job of total bytes (0: not known yet). */
struct progress *
progress_new(const char *title, int64_t total)
{
	struct progress	*p;

	if ((p = calloc(1, sizeof *p)) == NULL)
		return NULL;
	p->out = stderr;
	p->tty = isatty(STDERR_FILENO);
	util_strlcpy(p->title, title, sizeof p->title);
	p->total = total;
	p->started_ms = p->drawn_ms = util_now_us() / 1000;
	return p;
}

/* How many items the job has, when the caller knows: "(3 of 7)". */
void
progress_set_count(struct progress *p, size_t count)
{
	if (p != NULL)
		p->count = count;
}

/* An item in flight; its number for progress_add and progress_end, or -1. */
int
progress_start(struct progress *p, const char *name, int64_t total)
{
	struct progress_item	*v;
	size_t			 cap;

	if (p == NULL || p->n == PROGRESS_ITEMS_MAX)
		return -1;
	if (p->n == p->cap) {
		cap = p->cap == 0 ? 16 : p->cap * 2;
		if ((v = reallocarray(p->items, cap, sizeof *v)) == NULL)
			return -1;
		p->items = v;
		p->cap = cap;
	}
	v = &p->items[p->n];
	memset(v, 0, sizeof *v);
	util_strlcpy(v->name, name, sizeof v->name);
	v->total = total;
	v->started_ms = util_now_us() / 1000;
	return (int)p->n++;
}

/* n more bytes of item (-1: of the job only). */
void
progress_add(struct progress *p, int item, int64_t n)
{
	if (p == NULL)
		return;
	p->done += n;
	if (item >= 0 && (size_t)item < p->n)
		p->items[item].done += n;
}

/* The item ended, ok or not; a pipe gets its line now. */
void
progress_end(struct progress *p, int item, int ok)
{
	struct progress_item	*v;
	char			 d[32];

	if (p == NULL || item < 0 || (size_t)item >= p->n ||
	    p->items[item].state != 0)
		return;
	v = &p->items[item];
	v->state = ok ? 1 : 2;
	p->ended++;
	if (p->tty)
		return;
	progress_bytes(v->done, d, sizeof d);
	if (p->count > 0)
		fprintf(p->out, "%s: %s %s, %s (%d of %zu)\n", p->title,
		    v->name, ok ? "done" : "FAILED", d, p->ended, p->count);
	else
		fprintf(p->out, "%s: %s %s, %s (%d)\n", p->title, v->name,
		    ok ? "done" : "FAILED", d, p->ended);
	v->shown = 1;
	fflush(p->out);
}

static void
progress_draw_tty(struct progress *p, int64_t now)
{
	struct progress_item	*v;
	char			 f[256], d[32];
	size_t			 i;

	if (p->lines > 0)
		fprintf(p->out, "\033[%dA", p->lines);
	fputc('\r', p->out);
	for (i = 0; i < p->n; i++) {
		v = &p->items[i];
		if (v->state == 0 || v->shown)
			continue;
		progress_bytes(v->done, d, sizeof d);
		fprintf(p->out, "\033[2K  %-*.*s %s %s\n", PROGRESS_NAME,
		    PROGRESS_NAME, v->name, v->state == 1 ? "done" : "FAILED", d);
		v->shown = 1;
	}
	progress_figures(p->done, p->total, now - p->started_ms, 1, f, sizeof f);
	fprintf(p->out, "\033[2K%s %s\n", p->title, f);
	p->lines = 1;
	for (i = 0; i < p->n; i++) {
		v = &p->items[i];
		if (v->state != 0)
			continue;
		progress_figures(v->done, v->total, now - v->started_ms, 1, f,
		    sizeof f);
		fprintf(p->out, "\033[2K  %-*.*s %s\n", PROGRESS_NAME,
		    PROGRESS_NAME, v->name, f);
		p->lines++;
	}
	fputs("\033[J", p->out);
	fflush(p->out);
}

/* Draws what changed, if it is time (a terminal: 5/s; a pipe: every 5 s). */
void
progress_show(struct progress *p)
{
	char	f[256];
	int64_t	now;

	if (p == NULL)
		return;
	now = util_now_us() / 1000;
	if (p->tty) {
		if (now - p->drawn_ms < PROGRESS_REDRAW_MS && p->lines > 0)
			return;
		p->drawn_ms = now;
		progress_draw_tty(p, now);
		return;
	}
	if (now - p->drawn_ms < PROGRESS_SUMMARY_MS)
		return;
	p->drawn_ms = now;
	progress_figures(p->done, p->total, now - p->started_ms, 0, f, sizeof f);
	fprintf(p->out, "%s: %s\n", p->title, f);
	fflush(p->out);
}

/* The last picture (everything done), then the display is gone. */
void
progress_free(struct progress *p)
{
	char	d[32], r[32], t[32];
	int64_t	ms;

	if (p == NULL)
		return;
	ms = util_now_us() / 1000 - p->started_ms;
	if (p->tty)
		progress_draw_tty(p, util_now_us() / 1000);
	else {
		progress_bytes(p->done, d, sizeof d);
		progress_bytes(ms > 0 ? p->done * 1000 / ms : 0, r, sizeof r);
		progress_duration(ms / 1000, t, sizeof t);
		fprintf(p->out, "%s: %s in %s (%s/s)\n", p->title, d, t, r);
		fflush(p->out);
	}
	free(p->items);
	free(p);
}
