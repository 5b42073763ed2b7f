/* A minimal TAP harness for C unit and golden tests (tests/run.sh counts the lines).
 *
 *   CHECK(cond, "what")           one assertion, file:line on failure
 *   CHECK_CLOSE(got, want, rtol, atol, "what")
 *   check_done()                  prints the plan; returns the exit status
 *
 * Each CHECK prints "ok N - what" or "not ok N - what" so that one failing value
 * is visible among many. */
#ifndef PV_TEST_CHECK_H
#define PV_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_count, check_failed;

static inline int check_report(int ok, const char *file, int line, const char *what)
{
    check_count++;
    if (!ok)
        check_failed++;
    printf("%sok %d - %s\n", ok ? "" : "not ", check_count, what);
    if (!ok)
        printf("# failed at %s:%d\n", file, line);
    fflush(stdout);
    return ok;
}

#define CHECK(cond, what) check_report(!!(cond), __FILE__, __LINE__, (what))

static inline int check_close_impl(double got, double want, double rtol, double atol,
                                   const char *file, int line, const char *what)
{
    double err = fabs(got - want);
    int ok = err <= atol + rtol * fabs(want);
    if (!ok)
        printf("# %s: got %.9g want %.9g (abs err %.3g)\n", what, got, want, err);
    return check_report(ok, file, line, what);
}

#define CHECK_CLOSE(got, want, rtol, atol, what) \
    check_close_impl((got), (want), (rtol), (atol), __FILE__, __LINE__, (what))

/* Skips the whole file with a visible reason (e.g. ../shared absent). */
static inline int check_skip_all(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    return 0;
}

static inline int check_done(void)
{
    printf("1..%d\n", check_count);
    return check_failed ? 1 : 0;
}

#endif
