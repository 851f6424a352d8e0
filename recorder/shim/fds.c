/* The shim's own fd -> object table: which fds reach /dev/kvm, a VM, a vCPU or a device, and where
 * each vCPU's kvm_run page is mapped. Fixed-size and lock-free: each slot is written only by the
 * thread that opens, creates, dups or closes that fd number, which the kernel serialises. */
#define _GNU_SOURCE
#include "shim.h"

#include <string.h>

#define MAX_FDS 65536
static struct fdinfo table[MAX_FDS];

struct fdinfo *fd_info(int fd) {
  if (fd < 0 || fd >= MAX_FDS || table[fd].kind == OBJ_NONE) return NULL;
  return &table[fd];
}

void fd_set_kind(int fd, uint8_t kind, uint32_t devtype) {
  if (fd < 0 || fd >= MAX_FDS) return;
  memset(&table[fd], 0, sizeof table[fd]);
  table[fd].kind = kind;
  table[fd].devtype = devtype;
}

void fd_copy(int oldfd, int newfd) {
  if (oldfd < 0 || oldfd >= MAX_FDS || newfd < 0 || newfd >= MAX_FDS || oldfd == newfd) return;
  table[newfd] = table[oldfd];
}

void fd_forget(int fd) {
  if (fd >= 0 && fd < MAX_FDS) memset(&table[fd], 0, sizeof table[fd]);
}
