/* stream-ref.c — a C reference of STREAM's four kernels (written for vbench's comparison, after
 * McCalpin's rules: three arrays of N doubles, first-touch by the threads that use them,
 * a = 2a before timing, NTIMES iterations of copy, scale, add, triad with the first dropped,
 * best time per kernel, bytes counted 16/16/24/24 per element, results verified). The arrays
 * are 2 MiB aligned and advised as huge pages, as vbench's are.
 * Build: gcc -O3 -march=native -fopenmp stream-ref.c -o stream-ref
 * Usage: stream-ref ELEMENTS NTIMES   (threads: OMP_NUM_THREADS; pinning: OMP_PROC_BIND)
 * Prints one JSON object: {"copy": best bytes/s, "scale": …, "add": …, "triad": …}. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: stream-ref ELEMENTS NTIMES\n"); return 64; }
    long n = atol(argv[1]);
    int ntimes = atoi(argv[2]);
    if (n < 1000 || ntimes < 2) { fprintf(stderr, "stream-ref: ELEMENTS >= 1000, NTIMES >= 2\n"); return 64; }
    double *a = aligned_alloc(2 << 20, ((n * sizeof(double)) / (2 << 20) + 1) * (2 << 20));
    double *b = aligned_alloc(2 << 20, ((n * sizeof(double)) / (2 << 20) + 1) * (2 << 20));
    double *c = aligned_alloc(2 << 20, ((n * sizeof(double)) / (2 << 20) + 1) * (2 << 20));
    if (!a || !b || !c) { fprintf(stderr, "stream-ref: out of memory\n"); return 1; }
    /* Same page policy as vbench's arrays (2 MiB aligned, MADV_HUGEPAGE), so the comparison is
     * of the kernels, not of TLB reach. */
    size_t mapped = ((n * sizeof(double)) / (2 << 20) + 1) * (2 << 20);
    madvise(a, mapped, MADV_HUGEPAGE);
    madvise(b, mapped, MADV_HUGEPAGE);
    madvise(c, mapped, MADV_HUGEPAGE);
    const double s = 3.0;
#pragma omp parallel for schedule(static)
    for (long j = 0; j < n; j++) { a[j] = 1.0; b[j] = 2.0; c[j] = 0.0; }
#pragma omp parallel for schedule(static)
    for (long j = 0; j < n; j++) a[j] = 2.0 * a[j];
    double best[4] = {1e30, 1e30, 1e30, 1e30};
    for (int k = 0; k < ntimes; k++) {
        double t[4];
        t[0] = now();
#pragma omp parallel for schedule(static)
        for (long j = 0; j < n; j++) c[j] = a[j];
        t[0] = now() - t[0];
        t[1] = now();
#pragma omp parallel for schedule(static)
        for (long j = 0; j < n; j++) b[j] = s * c[j];
        t[1] = now() - t[1];
        t[2] = now();
#pragma omp parallel for schedule(static)
        for (long j = 0; j < n; j++) c[j] = a[j] + b[j];
        t[2] = now() - t[2];
        t[3] = now();
#pragma omp parallel for schedule(static)
        for (long j = 0; j < n; j++) a[j] = b[j] + s * c[j];
        t[3] = now() - t[3];
        if (k > 0) for (int i = 0; i < 4; i++) if (t[i] < best[i]) best[i] = t[i];
    }
    double aj = 2.0, bj = 2.0, cj = 0.0;
    for (int k = 0; k < ntimes; k++) { cj = aj; bj = s * cj; cj = aj + bj; aj = bj + s * cj; }
    for (long j = 0; j < n; j++) {
        if (fabs(a[j] - aj) / aj > 1e-13 || fabs(b[j] - bj) / bj > 1e-13 || fabs(c[j] - cj) / cj > 1e-13) {
            fprintf(stderr, "stream-ref: results wrong at %ld\n", j);
            return 3;
        }
    }
    double bytes[4] = {16.0 * n, 16.0 * n, 24.0 * n, 24.0 * n};
    printf("{\"copy\": %.0f, \"scale\": %.0f, \"add\": %.0f, \"triad\": %.0f, \"threads\": %d}\n",
           bytes[0] / best[0], bytes[1] / best[1], bytes[2] / best[2], bytes[3] / best[3], omp_get_max_threads());
    return 0;
}
