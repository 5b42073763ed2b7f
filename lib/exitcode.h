/* Exit statuses shared by every pv tool (DESIGN.md, "Conventions"). */
#ifndef PV_EXITCODE_H
#define PV_EXITCODE_H

enum pv_exit {
    PV_EXIT_OK = 0,        /* success */
    PV_EXIT_BAD_INPUT = 1, /* bad input records (also with --keep-going) */
    PV_EXIT_USAGE = 2,     /* bad command line */
    PV_EXIT_SYSTEM = 3,    /* system, I/O, model or device error */
};

#endif
