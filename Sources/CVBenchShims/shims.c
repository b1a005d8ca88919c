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
