#include "CVBenchShims.h"
#include <errno.h>
#include <stdlib.h>
#include <liburing.h>

#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

/* The ring belongs to one job thread, which alone submits and reaps: completions are run
 * when that thread enters the kernel to wait for them (DEFER_TASKRUN, Linux 6.1), or at its
 * next kernel entry (COOP_TASKRUN, 5.19), instead of an inter-processor interrupt per
 * completion, which in a VM is an exit. Older kernels get a plain ring. */
void *vbench_uring_new(unsigned entries, int *error) {
    struct io_uring *ring = calloc(1, sizeof *ring);
    if (!ring) { *error = -ENOMEM; return NULL; }
    const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -EINVAL;
    for (unsigned i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        rc = io_uring_queue_init(entries, ring, tries[i]);
        if (rc != -EINVAL) break;
    }
    if (rc < 0) { free(ring); *error = rc; return NULL; }
    *error = 0;
    return ring;
}

unsigned vbench_uring_setup_flags(void *ring) { return ((struct io_uring *)ring)->flags; }

void vbench_uring_free(void *ring) {
    if (!ring) return;
    io_uring_queue_exit(ring);
    free(ring);
}

int vbench_uring_register_file(void *ring, int fd) { return io_uring_register_files(ring, &fd, 1); }

int vbench_uring_register_buffer(void *ring, void *base, unsigned long count) {
    struct iovec iov = { .iov_base = base, .iov_len = count };
    return io_uring_register_buffers(ring, &iov, 1);
}

int vbench_uring_prep(void *ring, int write, int fd, int fixed_file, int fixed_buffer, void *buffer,
                      unsigned count, uint64_t offset, uint64_t tag) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) return 0;
    int target = fixed_file ? 0 : fd;
    if (fixed_buffer) {
        if (write) io_uring_prep_write_fixed(sqe, target, buffer, count, offset, 0);
        else io_uring_prep_read_fixed(sqe, target, buffer, count, offset, 0);
    } else {
        if (write) io_uring_prep_write(sqe, target, buffer, count, offset);
        else io_uring_prep_read(sqe, target, buffer, count, offset);
    }
    if (fixed_file) sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, tag);
    return 1;
}

int vbench_uring_submit_wait(void *ring, unsigned wait_nr) { return io_uring_submit_and_wait(ring, wait_nr); }

int vbench_uring_reap(void *ring, int max, uint64_t *tags, int32_t *results) {
    struct io_uring_cqe *cqe;
    unsigned head;
    int n = 0;
    io_uring_for_each_cqe((struct io_uring *)ring, head, cqe) {
        if (n == max) break;
        tags[n] = cqe->user_data;
        results[n] = cqe->res;
        n++;
    }
    io_uring_cq_advance(ring, n);
    return n;
}
