/* The interposed libc entry points. Each one calls the real function (resolved once with
 * dlsym(RTLD_NEXT)), records what it did when the shim is active and the fd matters, and leaves
 * errno exactly as the real call left it. */
#define _GNU_SOURCE
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "memcheck_requests.h"

int (*real_ioctl)(int, unsigned long, ...);
void *(*real_mmap64)(void *, size_t, int, int, int, off64_t);
int (*real_munmap)(void *, size_t);
int (*real_close)(int);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static int (*real_fcntl64)(int, int, ...);
static pid_t (*real_fork)(void);
static int (*real_execve)(const char *, char *const[], char *const[]);
static void (*real__exit)(int) __attribute__((noreturn));

int shim_ready, shim_valgrind;
pid_t shim_pid;

#define RESOLVE(name) real_##name = dlsym(RTLD_NEXT, #name)
static void resolve(void) {
  RESOLVE(ioctl); RESOLVE(mmap64); RESOLVE(mmap); RESOLVE(munmap); RESOLVE(close);
  RESOLVE(open); RESOLVE(open64); RESOLVE(openat); RESOLVE(openat64);
  RESOLVE(dup); RESOLVE(dup2); RESOLVE(dup3); RESOLVE(fcntl); RESOLVE(fcntl64);
  RESOLVE(fork); RESOLVE(execve); RESOLVE(_exit);
}
#define REAL(name) (real_##name ? real_##name : (resolve(), real_##name))

/* False in a vfork child (or a raw clone): it shares our memory, fd table and log but is another
 * process, so what it does to fds must not change our view. One getpid(), so not for ioctl. */
static int own_process(void) { return shim_ready && getpid() == shim_pid; }

/* ---- small records ---------------------------------------------------------------------------- */

#define BODY(p, type) ((type *)((struct rec *)(p) + 1))

static void log_open(const char *path, int flags, int fd, int err) {
  size_t n = strnlen(path, 4096);
  void *p = rec_begin((uint32_t)(sizeof(struct rec_open) + n), NULL);
  if (!p) return;
  *BODY(p, struct rec_open) = (struct rec_open){fd, flags, fd < 0 ? err : 0, (uint32_t)n};
  memcpy(BODY(p, struct rec_open) + 1, path, n);
  rec_commit(p, REC_OPEN);
}

static void log_dup(int oldfd, int newfd) {
  void *p = rec_begin(sizeof(struct rec_dup), NULL);
  if (!p) return;
  *BODY(p, struct rec_dup) = (struct rec_dup){oldfd, newfd};
  rec_commit(p, REC_DUP);
}

static void log_exit(int status) {
  void *p = rec_begin(sizeof(struct rec_exit), NULL);
  if (!p) return;
  *BODY(p, struct rec_exit) = (struct rec_exit){status, 0};
  rec_commit(p, REC_EXIT);
}

/* ---- opens: device paths the rule table names, and anything else under /dev, are tracked ------- */

static int after_open(const char *path, int flags, int fd) {
  if (!shim_ready || !path || strncmp(path, "/dev/", 5) != 0 || !own_process()) return fd;
  int err = errno;
  uint8_t kind = rules_path_kind(path);
  if (fd >= 0) fd_set_kind(fd, kind ? kind : OBJ_OTHER, 0);
  log_open(path, flags, fd, err);
  errno = err;
  return fd;
}

static mode_t open_mode(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? va_arg(ap, mode_t) : 0;
}

#define OPEN_WRAPPER(name)                                                                         \
  EXPORT int name(const char *path, int flags, ...) {                                                     \
    va_list ap;                                                                                    \
    va_start(ap, flags);                                                                           \
    mode_t mode = open_mode(flags, ap);                                                            \
    va_end(ap);                                                                                    \
    return after_open(path, flags, REAL(name)(path, flags, mode));                                 \
  }
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(name)                                                                       \
  EXPORT int name(int dirfd, const char *path, int flags, ...) {                                          \
    va_list ap;                                                                                    \
    va_start(ap, flags);                                                                           \
    mode_t mode = open_mode(flags, ap);                                                            \
    va_end(ap);                                                                                    \
    return after_open(path, flags, REAL(name)(dirfd, path, flags, mode));                          \
  }
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

/* ---- fds -------------------------------------------------------------------------------------- */

EXPORT int close(int fd) {
  /* The recording's own fds outlive a target that closes every fd it did not open. */
  if (is_shim_fd(fd) || guestmem_owns_fd(fd)) return 0;
  int ret = REAL(close)(fd);
  if (shim_ready && fd_info(fd) && own_process()) {
    int err = errno;
    void *p = rec_begin(sizeof(struct rec_close), NULL);
    if (p) {
      *BODY(p, struct rec_close) = (struct rec_close){fd, ret, ret < 0 ? err : 0, 0};
      rec_commit(p, REC_CLOSE);
    }
    if (ret == 0) fd_forget(fd);
    errno = err;
  }
  return ret;
}

static int after_dup(int oldfd, int newfd) {
  if (shim_ready && newfd >= 0 && (fd_info(oldfd) || fd_info(newfd)) && own_process()) {
    int err = errno;
    if (fd_info(oldfd)) fd_copy(oldfd, newfd);
    else fd_forget(newfd);
    log_dup(oldfd, newfd);
    errno = err;
  }
  return newfd;
}

EXPORT int dup(int fd) { return after_dup(fd, REAL(dup)(fd)); }
EXPORT int dup2(int fd, int fd2) { return after_dup(fd, REAL(dup2)(fd, fd2)); }
EXPORT int dup3(int fd, int fd2, int flags) { return after_dup(fd, REAL(dup3)(fd, fd2, flags)); }

/* Every fcntl argument is an int or a pointer, so passing it on as a long is exact. */
#define FCNTL_WRAPPER(name)                                                                        \
  EXPORT int name(int fd, int cmd, ...) {                                                                 \
    va_list ap;                                                                                    \
    va_start(ap, cmd);                                                                             \
    long arg = va_arg(ap, long);                                                                   \
    va_end(ap);                                                                                    \
    int ret = REAL(name)(fd, cmd, arg);                                                            \
    return cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC ? after_dup(fd, ret) : ret;                    \
  }
FCNTL_WRAPPER(fcntl)
FCNTL_WRAPPER(fcntl64)

/* ---- ioctl ------------------------------------------------------------------------------------ */

EXPORT int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  int saved = errno;
  if (!shim_ready) return REAL(ioctl)(fd, request, arg);
  return (int)record_ioctl(fd, request, arg, saved);
}

/* ---- mappings: the kvm_run page of each vCPU ------------------------------------------------- */

#define MAX_MAPS 256
static struct { _Atomic uint64_t addr; uint64_t length; int fd; } maps[MAX_MAPS];

static void *after_mmap(void *ret, size_t len, int prot, int flags, int fd, off64_t off) {
  struct fdinfo *fi;
  if (!shim_ready || ret == MAP_FAILED || !(fi = fd_info(fd)) || !own_process()) return ret;
  int err = errno;
  if (fi->kind == OBJ_VCPU && off == 0) {
    fi->run = ret;
    fi->runsize = len;
  }
  for (int i = 0; i < MAX_MAPS; i++) {
    uint64_t zero = 0;
    if (atomic_compare_exchange_strong(&maps[i].addr, &zero, (uintptr_t)ret)) {
      maps[i].length = len;
      maps[i].fd = fd;
      break;
    }
  }
  void *p = rec_begin(sizeof(struct rec_mmap), NULL);
  if (p) {
    *BODY(p, struct rec_mmap) =
        (struct rec_mmap){fd, prot, flags, 0, (uintptr_t)ret, len, (uint64_t)off};
    rec_commit(p, REC_MMAP);
  }
  errno = err;
  return ret;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  return after_mmap(REAL(mmap)(addr, len, prot, flags, fd, off), len, prot, flags, fd, off);
}
EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off) {
  return after_mmap(REAL(mmap64)(addr, len, prot, flags, fd, off), len, prot, flags, fd, off);
}

EXPORT int munmap(void *addr, size_t len) {
  int ret = REAL(munmap)(addr, len);
  if (!shim_ready || ret != 0) return ret;
  for (int i = 0; i < MAX_MAPS; i++) {
    uint64_t a = (uintptr_t)addr;
    if (atomic_load(&maps[i].addr) == a && atomic_compare_exchange_strong(&maps[i].addr, &a, 0)) {
      struct fdinfo *fi = fd_info(maps[i].fd);
      if (fi && fi->run == addr) fi->run = NULL; /* no more kvm_run copies from an unmapped page */
      void *p = rec_begin(sizeof(struct rec_munmap), NULL);
      if (p) {
        *BODY(p, struct rec_munmap) = (struct rec_munmap){(uintptr_t)addr, len};
        rec_commit(p, REC_MUNMAP);
      }
      break;
    }
  }
  return ret;
}

/* ---- processes -------------------------------------------------------------------------------- */

EXPORT pid_t fork(void) {
  if (!shim_ready) return REAL(fork)();
  uint64_t seq = next_seq(); /* taken first so the fork precedes everything the child records */
  pid_t child = REAL(fork)();
  if (child != 0) {
    /* A failed fork still uses its number: ingest, running beside the target, emits events in
     * number order and would otherwise wait for it until the end. */
    int err = errno;
    static const char failed[] = "fork failed";
    void *p = child > 0 ? rec_begin(sizeof(struct rec_fork), NULL)
                        : rec_begin((uint32_t)(sizeof(struct rec_note) + sizeof failed - 1), NULL);
    if (p) {
      ((struct rec *)p)->seq = seq;
      if (child > 0) {
        *BODY(p, struct rec_fork) = (struct rec_fork){child, 0};
        rec_commit(p, REC_FORK);
      } else {
        *BODY(p, struct rec_note) = (struct rec_note){sizeof failed - 1, 0};
        memcpy(BODY(p, struct rec_note) + 1, failed, sizeof failed - 1);
        rec_commit(p, REC_NOTE);
      }
    }
    errno = err;
  }
  return child;
}

static void atfork_child(void) {
  shim_pid = getpid();
  cached_tid = 0;
  guestmem_after_fork();
  run_memo_after_fork();
  rawlog_after_fork();
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[]) {
  /* A vfork child writes into our log: its tid must not stay in the thread's cache. */
  uint32_t tid = cached_tid;
  int vforked = shim_ready && !own_process();
  if (vforked) cached_tid = (uint32_t)syscall(SYS_gettid);
  if (shim_ready) {
    int err = errno;
    size_t bytes = 0, argc = 0;
    for (; argv[argc]; argc++) bytes += strlen(argv[argc]) + 1;
    void *p = bytes < RAW_MAX_RECORD ? rec_begin((uint32_t)(sizeof(struct rec_exec) + bytes), NULL) : NULL;
    if (p) {
      /* A vfork child shares our memory and log, so the pid is written explicitly. */
      *BODY(p, struct rec_exec) = (struct rec_exec){(uint32_t)getpid(), (uint32_t)argc, (uint32_t)bytes, 0};
      char *out = (char *)(BODY(p, struct rec_exec) + 1);
      for (size_t i = 0; i < argc; i++) out = stpcpy(out, argv[i]) + 1;
      rec_commit(p, REC_EXEC);
    }
    errno = err;
  }
  int ret = REAL(execve)(path, argv, envp);
  if (shim_ready) { /* only a failed exec returns: say so next to the exec event */
    int err = errno;
    char msg[340];
    snprintf(msg, sizeof msg, "process %d: execve %.256s failed: %s", (int)getpid(), path, strerror(err));
    note(msg);
    errno = err;
  }
  if (vforked) cached_tid = tid;
  return ret;
}

EXPORT void _exit(int status) {
  if (own_process()) log_exit(status); /* a vfork child's exit is not ours */
  REAL(_exit)(status);
}

static void on_exit_handler(int status, void *unused) {
  (void)unused;
  if (shim_ready) log_exit(status);
  shim_ready = 0; /* nothing after exit() is the target's own work */
}

/* ---- start ------------------------------------------------------------------------------------ */

__attribute__((constructor)) static void shim_init(void) {
  resolve();
  const char *dir = getenv("IOCTLGRIND_DIR");
  const char *rules = getenv("IOCTLGRIND_RULES");
  if (!dir || !rules) return;
  int err = errno;
  int abi = sizeof(void *) == 8 ? 0 : 1;
  char path[4096];
  snprintf(path, sizeof path, "%s.%s", rules, abi ? "ilp32" : "lp64");
  shim_pid = getpid();
  shim_valgrind = RUNNING_ON_VALGRIND ? 1 : 0;
  int rules_ok = rules_load(path) == 0;
  if (rawlog_open(dir, abi) != 0) {
    errno = err;
    return;
  }
  shim_ready = 1;
  if (shim_valgrind) rawlog_set_flags(RAW_F_VALGRIND);
  if (!rules_ok) note("rule table missing or invalid: every ioctl is recorded by its _IOC bits only");
  pthread_atfork(NULL, NULL, atfork_child);
  on_exit(on_exit_handler, NULL);
  errno = err;
}
