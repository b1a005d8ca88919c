#define _GNU_SOURCE
#include "CVBenchShims.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <spawn.h>
#include <unistd.h>
#include <linux/fs.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

int vbench_o_direct(void) { return O_DIRECT; }

int vbench_cpuid(uint32_t leaf, uint32_t *eax, uint32_t *ebx, uint32_t *ecx, uint32_t *edx) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned int a = 0, b = 0, c = 0, d = 0;
    __cpuid_count(leaf, 0, a, b, c, d);
    *eax = a; *ebx = b; *ecx = c; *edx = d;
    return 1;
#else
    *eax = *ebx = *ecx = *edx = 0;
    return 0;
#endif
}

int vbench_blk_size_bytes(int fd, uint64_t *size) {
    return ioctl(fd, BLKGETSIZE64, size) == 0 ? 0 : -errno;
}

int vbench_blk_logical_sector_size(int fd, int *size) {
    return ioctl(fd, BLKSSZGET, size) == 0 ? 0 : -errno;
}

#include <sys/vfs.h>
long long vbench_statfs_type(const char *path) {
    struct statfs fs;
    if (statfs(path, &fs) != 0) return -errno;
    return (long long)(unsigned long)fs.f_type;
}

#include <sys/socket.h>
#include <linux/vm_sockets.h>
#include <string.h>
#include <unistd.h>

int vbench_vsock_listen(unsigned int port, int backlog) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_vm addr;
    memset(&addr, 0, sizeof addr);
    addr.svm_family = AF_VSOCK;
    addr.svm_cid = VMADDR_CID_ANY;
    addr.svm_port = port;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int vbench_vsock_accept(int listener, unsigned int *peer_cid, unsigned int *peer_port) {
    struct sockaddr_vm addr;
    socklen_t len = sizeof addr;
    memset(&addr, 0, sizeof addr);
    int fd = accept4(listener, (struct sockaddr *)&addr, &len, SOCK_CLOEXEC);
    if (fd < 0) return -errno;
    *peer_cid = addr.svm_cid;
    *peer_port = addr.svm_port;
    return fd;
}

#include <sched.h>

int vbench_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : -errno;
}

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int vbench_tcp_info(int fd, uint32_t *total_retrans, uint32_t *rtt_us) {
    struct tcp_info info;
    socklen_t len = sizeof(info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -errno;
    *total_retrans = info.tcpi_total_retrans;
    *rtt_us = info.tcpi_rtt;
    return 0;
}

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int vbench_ethtool_channels(const char *interface, uint32_t *max_rx, uint32_t *max_tx, uint32_t *max_combined,
                            uint32_t *rx, uint32_t *tx, uint32_t *combined) {
    struct ethtool_channels channels;
    struct ifreq request;
    memset(&channels, 0, sizeof(channels));
    memset(&request, 0, sizeof(request));
    if (strlen(interface) >= sizeof(request.ifr_name)) return -ENAMETOOLONG;
    strncpy(request.ifr_name, interface, sizeof(request.ifr_name) - 1);
    channels.cmd = ETHTOOL_GCHANNELS;
    request.ifr_data = (void *)&channels;
    /* An AF_INET datagram socket carries the ioctl only; nothing is sent. */
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int rc = ioctl(fd, SIOCETHTOOL, &request);
    int saved = errno;
    close(fd);
    if (rc != 0) return -saved;
    *max_rx = channels.max_rx; *max_tx = channels.max_tx; *max_combined = channels.max_combined;
    *rx = channels.rx_count; *tx = channels.tx_count; *combined = channels.combined_count;
    return 0;
}

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>

long vbench_recv_fds(int sock, void *buf, unsigned long len, int *fds, int max_fds, int *nfds) {
    union { struct cmsghdr align; char space[CMSG_SPACE(sizeof(int) * 16)]; } control;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof control.space;
    *nfds = 0;
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    int overflow = (msg.msg_flags & MSG_CTRUNC) != 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *received = (int *)CMSG_DATA(c);
        for (int i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, received + i, sizeof fd);
            if (*nfds < max_fds) fds[(*nfds)++] = fd; else { close(fd); overflow = 1; }
        }
    }
    if (overflow) {
        for (int i = 0; i < *nfds; i++) close(fds[i]);
        *nfds = 0;
        return -EMSGSIZE;
    }
    return (long)n;
}

long vbench_send_fds(int sock, const void *buf, unsigned long len, const int *fds, int nfds) {
    union { struct cmsghdr align; char space[CMSG_SPACE(sizeof(int) * 16)]; } control;
    if (nfds < 0 || nfds > 16) return -EINVAL;
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds > 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.space;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : (long)n;
}

uint16_t vbench_load_acquire_u16(const void *p) { return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE); }
void vbench_store_release_u16(void *p, uint16_t v) { __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE); }
void vbench_memory_barrier(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

int vbench_eventfd(unsigned int initval, int nonblock) {
    int fd = eventfd(initval, EFD_CLOEXEC | (nonblock ? EFD_NONBLOCK : 0));
    return fd < 0 ? -errno : fd;
}

int vbench_memfd(const char *name) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int vbench_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno; }

int vbench_spawn_addchdir(void *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np((posix_spawn_file_actions_t *)actions, path);
}
