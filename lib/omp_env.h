/* The OpenMP wait policy of the compute tools.
 *
 * libgomp reads OMP_WAIT_POLICY once, when it is loaded, before main(). Its default
 * lets idle threads spin between parallel regions, and they then compete for the
 * cores with OpenBLAS's own thread pool: on 2 cores a pv-dpo step took 1.4x and
 * pv-caption decoding 2.2x as long as with the passive policy. When the user has not
 * chosen a policy, pv_omp_passive_wait() restarts the program once with
 * OMP_WAIT_POLICY=passive in its environment (nothing else changes); if that cannot
 * be done it returns and the program runs as it is. Call it first in main(). */
#ifndef PV_OMP_ENV_H
#define PV_OMP_ENV_H

void pv_omp_passive_wait(char **argv);

#endif
