#define _GNU_SOURCE
#include "CVBenchShims.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
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
