#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"

double pv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void pv_progress_start(pv_progress *p, const char *unit, long total)
{
    p->unit = unit;
    p->total = total;
    p->count = 0;
    p->start = p->last_draw = pv_now();
    p->enabled = !pv_quiet && isatty(STDERR_FILENO);
    p->drawn = false;
}

static void draw(pv_progress *p, double now)
{
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)p->count / elapsed : 0;
    fprintf(stderr, "\r%s: %ld %s, %.1f/s", pv_progname, p->count, p->unit, rate);
    if (p->total > 0 && rate > 0) {
        long left = (long)((double)(p->total - p->count) / rate + 0.5);
        fprintf(stderr, ", ETA %ld:%02ld", left / 60, left % 60);
    }
    fputs("\033[K", stderr);
    p->drawn = true;
    p->last_draw = now;
}

void pv_progress_add(pv_progress *p, long n)
{
    p->count += n;
    if (!p->enabled)
        return;
    double now = pv_now();
    if (now - p->last_draw >= 0.2)
        draw(p, now);
}

void pv_progress_finish(pv_progress *p)
{
    if (p->enabled && p->drawn)
        fputs("\r\033[K", stderr);
    p->drawn = false;
}
