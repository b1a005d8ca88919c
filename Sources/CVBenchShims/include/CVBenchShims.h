#ifndef CVBENCH_SHIMS_H
#define CVBENCH_SHIMS_H
#include <stdint.h>

/// O_DIRECT as the kernel defines it; Swift's Glibc module does not export it.
int vbench_o_direct(void);

/// Executes CPUID for `leaf` (subleaf 0). Returns 0 where the instruction is not available.
int vbench_cpuid(uint32_t leaf, uint32_t *eax, uint32_t *ebx, uint32_t *ecx, uint32_t *edx);

/// ioctl(BLKGETSIZE64): the size of a block device in bytes. Returns 0 or -errno.
int vbench_blk_size_bytes(int fd, uint64_t *size);

/// ioctl(BLKSSZGET): the logical sector size of a block device. Returns 0 or -errno.
int vbench_blk_logical_sector_size(int fd, int *size);



/// statfs(path).f_type, or -errno. Swift's Glibc module does not import sys/vfs.h.
long long vbench_statfs_type(const char *path);
/// A listening AF_VSOCK stream socket on (any CID, `port`), or -errno.
/// Only ever called on a hypervisor host (/dev/vhost-vsock) or inside a guest of ours.
int vbench_vsock_listen(unsigned int port, int backlog);

/// Accepts one connection; stores the peer's CID and port. Returns the new fd, or -errno.
int vbench_vsock_accept(int listener, unsigned int *peer_cid, unsigned int *peer_port);

/// Pins the calling thread to one CPU (sched_setaffinity on a one-CPU set; CPU_SET is a macro
/// Swift cannot import). Returns 0 or -errno.
int vbench_pin_to_cpu(int cpu);

/// TCP_INFO of a connected socket: total retransmitted segments and smoothed RTT (µs).
/// Returns 0 or -errno.
int vbench_tcp_info(int fd, uint32_t *total_retrans, uint32_t *rtt_us);

/// ioctl(SIOCETHTOOL, ETHTOOL_GCHANNELS) on `interface`: the maximum and current rx, tx and
/// combined channels (what `ethtool -l` prints). Returns 0 or -errno (-EOPNOTSUPP when the
/// driver has no channels).
int vbench_ethtool_channels(const char *interface, uint32_t *max_rx, uint32_t *max_tx, uint32_t *max_combined,
                            uint32_t *rx, uint32_t *tx, uint32_t *combined);

/// recvmsg on a Unix stream socket: up to `len` bytes into `buf` and up to `max_fds` descriptors
/// passed with SCM_RIGHTS into `fds` (their count in `*nfds`; each is close-on-exec). Descriptors
/// beyond `max_fds`, or a truncated control message, are closed and reported as -EMSGSIZE after
/// the bytes are read. Returns the bytes read (0 at end of file) or -errno.
long vbench_recv_fds(int sock, void *buf, unsigned long len, int *fds, int max_fds, int *nfds);

/// sendmsg of `len` bytes with `nfds` descriptors as SCM_RIGHTS (0 for none). Returns bytes or -errno.
long vbench_send_fds(int sock, const void *buf, unsigned long len, const int *fds, int nfds);

/// A 16-bit load with acquire ordering and a 16-bit store with release ordering, for virtqueue
/// indexes shared with another process (a guest's driver).
uint16_t vbench_load_acquire_u16(const void *p);
void vbench_store_release_u16(void *p, uint16_t v);
/// A full memory barrier (between publishing a used index and reading the driver's flags).
void vbench_memory_barrier(void);

/// eventfd(initval, EFD_CLOEXEC | flags), memfd_create(name, MFD_CLOEXEC): fd or -errno.
int vbench_eventfd(unsigned int initval, int nonblock);
int vbench_memfd(const char *name);

/// pipe2(fds, O_CLOEXEC): 0 or -errno.
int vbench_pipe_cloexec(int fds[2]);
/// posix_spawn_file_actions_addchdir_np (glibc 2.29+), which <spawn.h> declares only with
/// _GNU_SOURCE: 0 or an errno value, as posix_spawn's functions return.
int vbench_spawn_addchdir(void *actions, const char *path);

/// io_uring through liburing, behind an opaque handle (liburing's types stay in uring.c).
/// vbench_uring_new: a ring with `entries` slots, or NULL with -errno in *error.
void *vbench_uring_new(unsigned entries, int *error);
void vbench_uring_free(void *ring);
/// The setup flags the ring got (IORING_SETUP_*).
unsigned vbench_uring_setup_flags(void *ring);
/// io_uring_register_files with one descriptor / io_uring_register_buffers with one iovec: 0 or -errno.
int vbench_uring_register_file(void *ring, int fd);
int vbench_uring_register_buffer(void *ring, void *base, unsigned long count);
/// Queues one read or write (fixed file: index 0; fixed: buffer index 0): 1, or 0 when the ring is full.
int vbench_uring_prep(void *ring, int write, int fd, int fixed_file, int fixed_buffer, void *buffer,
                      unsigned count, uint64_t offset, uint64_t tag);
/// io_uring_submit_and_wait: submitted count or -errno.
int vbench_uring_submit_wait(void *ring, unsigned wait_nr);
/// Takes up to `max` ready completions into tags[] and results[]: how many.
int vbench_uring_reap(void *ring, int max, uint64_t *tags, int32_t *results);

#endif
