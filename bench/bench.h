/* What the benchmarks' C load generators share. */
#ifndef TRACTUI_BENCH_H
#define TRACTUI_BENCH_H

#include <time.h>

/* Seconds on the monotonic clock. */
static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
