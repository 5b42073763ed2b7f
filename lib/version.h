#ifndef PV_VERSION_H
#define PV_VERSION_H
#define PV_VERSION "0.1.0"
#endif
