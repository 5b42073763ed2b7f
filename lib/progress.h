/* Progress on stderr while it is a terminal (and not -q): count, rate and,
 * when the total is known, ETA. Redrawn at most five times a second. */
#ifndef PV_PROGRESS_H
#define PV_PROGRESS_H

#include <stdbool.h>

typedef struct pv_progress {
    const char *unit;   /* e.g. "records" */
    long total;         /* 0 when unknown */
    long count;
    double start, last_draw;
    bool enabled, drawn;
} pv_progress;

void pv_progress_start(pv_progress *p, const char *unit, long total);
void pv_progress_add(pv_progress *p, long n);
void pv_progress_finish(pv_progress *p); /* clears the line */
double pv_now(void);                     /* monotonic seconds */

#endif
