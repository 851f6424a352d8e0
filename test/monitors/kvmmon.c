/* kvmmon: a small KVM monitor for ioctlgrind's tests and benchmark. It runs a flat guest binary
 * (loaded and entered at 0x1000, 2 MiB of RAM at gpa 0, MMIO hole at 0xb8000-0xbffff) in real,
 * 32-bit protected or 64-bit long mode, serves the guest's port and MMIO exits, and on the way uses
 * the ioctls the recorder must capture well: MSRs, CPUID, a VFIO device, a /dev/kvm attribute.
 *
 *   kvmmon [--mode real|prot32|long] [--vcpus N] [--exit-code N] [--exits N] [--quiet]
 *          [--fork] [--spawn] [--check-errno] [--uninit] [--kick] [--memfd] [--msr-filter] [--stamp]
 *          GUEST.bin
 *
 * --memfd backs guest RAM with a memfd mapped shared, as QEMU's memory-backend-memfd does.
 * --kick interrupts vCPU 0 with a signal every millisecond, as QEMU kicks its vCPU threads, so
 * that KVM_RUN returns EINTR now and then.
 * --msr-filter sets an MSR filter whose ranges carry bitmaps (pointers inside array elements),
 * filled with msr_filter_byte(); the guest's MSRs stay allowed.
 * --stamp: serving the n-th exit to port 0x80, the monitor writes "STMP" and n into the page at
 * STAMP_AT when n % 64 < 24, and leaves it alone otherwise: a page written at run after run, then
 * not for a while.
 *   kvmmon --child       (what --fork execs and --spawn starts: a few ioctls on /dev/kvm, exit 0)
 *
 * Exit status: the byte the guest writes to port 0xf4; 1 on a monitor error; 3 when --check-errno
 * finds errno wrong. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define RAM_SIZE (2u << 20)
#define HOLE_START 0xb8000u
#define HOLE_END 0xc0000u
#define LOAD_AT 0x1000u
#define EXITS_COUNT_AT 0x0ff8u
#define WRITE_TARGET 0x3000u
#define STAMP_AT 0x20000u
#define MSR_SYSENTER_CS 0x174u

enum mode { REAL, PROT32, LONG };

static struct {
  enum mode mode;
  int vcpus, exit_code, quiet, fork, spawn, check_errno, uninit, kick, memfd, msr_filter, stamp;
  long exits;
  const char *guest;
} opt = {.mode = REAL, .vcpus = 1, .exits = -1};

static int kvm, vm;
/* A careful monitor asks for every capability it relies on before using it (open_kvm). */
static int has_device_ctrl, has_one_reg;
static uint8_t *ram;
static long mmap_size;

struct vcpu {
  int index, fd;
  struct kvm_run *run;
  pthread_t thread;
};

static void die(const char *what) {
  fprintf(stderr, "kvmmon: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void load_guest(void) {
  int fd = open(opt.guest, O_RDONLY);
  if (fd < 0) die(opt.guest);
  ssize_t n = read(fd, ram + LOAD_AT, HOLE_START - LOAD_AT);
  if (n <= 0) die("read guest");
  close(fd);
  if (opt.mode == LONG) { /* identity-map the first 2 MiB with one large page */
    uint64_t *pml4 = (uint64_t *)(ram + 0x9000), *pdpt = (uint64_t *)(ram + 0xa000),
             *pd = (uint64_t *)(ram + 0xb000);
    pml4[0] = 0xa000 | 3;
    pdpt[0] = 0xb000 | 3;
    pd[0] = 0x83;
  }
}

static void set_memory(void) {
  int fd = -1;
  if (opt.memfd && ((fd = memfd_create("guest-ram", MFD_CLOEXEC)) < 0 || ftruncate(fd, RAM_SIZE) < 0)) die("memfd");
  ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
             opt.memfd ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, fd, 0);
  if (ram == MAP_FAILED) die("mmap ram");
  load_guest();
  struct kvm_userspace_memory_region low = {.slot = 0, .guest_phys_addr = 0,
                                            .memory_size = HOLE_START, .userspace_addr = (uintptr_t)ram};
  struct kvm_userspace_memory_region high = {.slot = 1, .flags = KVM_MEM_LOG_DIRTY_PAGES,
                                             .guest_phys_addr = HOLE_END,
                                             .memory_size = RAM_SIZE - HOLE_END,
                                             .userspace_addr = (uintptr_t)ram + HOLE_END};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &low) < 0) die("KVM_SET_USER_MEMORY_REGION");
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &high) < 0) die("KVM_SET_USER_MEMORY_REGION");
  /* Written after registration: the recorder must see it as a write before the first run. */
  if (opt.exits >= 0) memcpy(ram + EXITS_COUNT_AT, &(uint32_t){(uint32_t)opt.exits}, 4);
}

static void set_segments(struct kvm_sregs *s) {
  struct kvm_segment code = {.base = 0, .limit = 0xffff, .selector = 0, .type = 11, .present = 1, .s = 1};
  struct kvm_segment data = code;
  data.type = 3;
  if (opt.mode != REAL) {
    code.limit = data.limit = 0xffffffff;
    code.g = data.g = 1;
    code.selector = 8;
    data.selector = 16;
    code.db = opt.mode == PROT32;
    code.l = opt.mode == LONG;
    data.db = 1;
    s->cr0 |= 1; /* PE */
  }
  if (opt.mode == LONG) {
    s->cr3 = 0x9000;
    s->cr4 |= 1u << 5;                /* PAE */
    s->cr0 |= 0x80000000u;            /* PG */
    s->efer |= (1u << 8) | (1u << 10); /* LME, LMA */
  }
  s->cs = code;
  s->ds = s->es = s->fs = s->gs = s->ss = data;
}

static void set_msrs(int fd) {
  size_t size = sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry);
  struct kvm_msrs *m = malloc(size);
  if (!opt.uninit) memset(m, 0, size); /* --uninit: pad and reserved stay undefined */
  m->nmsrs = 1;
  m->entries[0].index = MSR_SYSENTER_CS;
  m->entries[0].data = 'K';
  if (ioctl(fd, KVM_SET_MSRS, m) != 1) die("KVM_SET_MSRS");
  free(m);
}

static void check_msrs(int fd) {
  struct { struct kvm_msrs h; struct kvm_msr_entry e; } m = {{.nmsrs = 1}, {.index = MSR_SYSENTER_CS}};
  if (ioctl(fd, KVM_GET_MSRS, &m) != 1) die("KVM_GET_MSRS");
  if (m.e.data != 'K') fprintf(stderr, "kvmmon: MSR 0x174 reads %llx\n", (unsigned long long)m.e.data);
}

static void set_cpuid(int fd) {
  int n = 128;
  struct kvm_cpuid2 *c = calloc(1, sizeof *c + n * sizeof(struct kvm_cpuid_entry2));
  c->nent = n;
  if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) < 0) die("KVM_GET_SUPPORTED_CPUID");
  if (ioctl(fd, KVM_SET_CPUID2, c) < 0) die("KVM_SET_CPUID2");
  free(c);
}

static struct vcpu *create_vcpu(int index) {
  struct vcpu *v = calloc(1, sizeof *v);
  v->index = index;
  v->fd = ioctl(vm, KVM_CREATE_VCPU, index);
  if (v->fd < 0) die("KVM_CREATE_VCPU");
  v->run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
  if (v->run == MAP_FAILED) die("mmap kvm_run");
  set_cpuid(v->fd);
  set_msrs(v->fd);
  struct kvm_sregs sregs;
  if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  set_segments(&sregs);
  if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
  struct kvm_regs regs = {.rip = LOAD_AT, .rflags = 2, .rsp = 0x8000, .rbx = (unsigned)index};
  if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
  return v;
}

/* Port I/O; returns 0 to keep running, or 1 when the guest asked to exit. */
static int port_io(struct vcpu *v) {
  struct kvm_run *r = v->run;
  uint8_t *data = (uint8_t *)r + r->io.data_offset;
  size_t n = (size_t)r->io.size * r->io.count;
  int out = r->io.direction == KVM_EXIT_IO_OUT;
  switch (r->io.port) {
  case 0x3f8:
    if (out && !opt.quiet && write(1, data, n) < 0) die("write");
    return 0;
  case 0x3f9:
    for (size_t i = 0; !out && i < n; i++) data[i] = (uint8_t)("ABCD"[i % 4]);
    return 0;
  case 0x3fa:
    ram[WRITE_TARGET] = 'W';
    return 0;
  case 0x3fb:
    if (!out) data[0] = (uint8_t)opt.exit_code;
    return 0;
  case 0xf4:
    opt.exit_code = data[0];
    return 1;
  case 0x80:
    if (opt.stamp) {
      static uint32_t served; /* the exits guest runs on one vCPU */
      if (++served % 64 < 24) memcpy(ram + STAMP_AT, "STMP", 4), memcpy(ram + STAMP_AT + 4, &served, 4);
    }
    return 0;
  default:
    return 0;
  }
}

static void *run_vcpu(void *arg) {
  struct vcpu *v = arg;
  for (;;) {
    if (ioctl(v->fd, KVM_RUN, 0) < 0) {
      if (errno == EINTR) continue;
      die("KVM_RUN");
    }
    struct kvm_run *r = v->run;
    switch (r->exit_reason) {
    case KVM_EXIT_IO:
      if (port_io(v)) return NULL;
      break;
    case KVM_EXIT_MMIO:
      if (!r->mmio.is_write) memset(r->mmio.data, 'Z', r->mmio.len);
      break;
    case KVM_EXIT_HLT:
      if (v->index) return NULL; /* secondary vCPUs stop at their first HLT */
      break;
    default:
      fprintf(stderr, "kvmmon: vcpu %d: unexpected exit %u\n", v->index, r->exit_reason);
      exit(1);
    }
  }
}

static void use_devices(void) {
  /* A /dev/kvm attribute, read into heap memory the monitor then branches on: without the
   * recorder's help memcheck calls that an uninitialised value. */
  uint64_t *xcomp = malloc(sizeof *xcomp);
  struct kvm_device_attr sys = {.group = 0, .attr = KVM_X86_XCOMP_GUEST_SUPP, .addr = (uintptr_t)xcomp};
  if (ioctl(kvm, KVM_GET_DEVICE_ATTR, &sys) == 0 && (*xcomp & 3) != 3)
    fprintf(stderr, "kvmmon: x87/SSE not in XCOMP_GUEST_SUPP\n");
  free(xcomp);

  /* A VFIO device: without a VFIO group, ADD is known but fails. */
  if (!has_device_ctrl) return;
  struct kvm_create_device cd = {.type = KVM_DEV_TYPE_VFIO};
  if (ioctl(vm, KVM_CREATE_DEVICE, &cd) < 0) {
    fprintf(stderr, "kvmmon: no VFIO KVM device: %s\n", strerror(errno));
    return;
  }
  int32_t group = -1;
  struct kvm_device_attr a = {.group = KVM_DEV_VFIO_GROUP, .attr = KVM_DEV_VFIO_GROUP_ADD,
                              .addr = (uintptr_t)&group};
  ioctl(cd.fd, KVM_HAS_DEVICE_ATTR, &a);
  ioctl(cd.fd, KVM_SET_DEVICE_ATTR, &a);
  ioctl(cd.fd, KVM_GET_DEVICE_ATTR, &a);
  int dupfd = dup(cd.fd);
  close(dupfd);
}

/* Ranges 0, 1 and 3 in use (1, 100 and 300 MSRs: 8, 16 and 40 bytes of bitmap, one bit per MSR in
 * u64s); range 2 has a bitmap but no MSRs, which KVM ignores. The recorder's tests know the bytes. */
static uint8_t msr_filter_byte(int range, int i) { return (uint8_t)(0x40 * range + 3 * i + 1); }

static void set_msr_filter(void) {
  if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER) <= 0) die("KVM_CAP_X86_MSR_FILTER");
  static const struct { uint32_t flags, nmsrs, base; } ranges[4] = {
      {KVM_MSR_FILTER_READ, 1, 0xc0010000},
      {KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE, 100, 0x1000},
      {KVM_MSR_FILTER_READ, 0, 0x3000},
      {KVM_MSR_FILTER_WRITE, 300, 0x2000},
  };
  struct kvm_msr_filter f = {.flags = KVM_MSR_FILTER_DEFAULT_ALLOW};
  for (int r = 0; r < 4; r++) {
    size_t size = (ranges[r].nmsrs + 63) / 64 * 8;
    uint8_t *bitmap = malloc(size ? size : 8);
    for (size_t i = 0; i < (size ? size : 8); i++) bitmap[i] = msr_filter_byte(r, (int)i);
    f.ranges[r] = (struct kvm_msr_filter_range){.flags = ranges[r].flags, .nmsrs = ranges[r].nmsrs,
                                                .base = ranges[r].base, .bitmap = bitmap};
  }
  if (ioctl(vm, KVM_X86_SET_MSR_FILTER, &f) < 0) die("KVM_X86_SET_MSR_FILTER");
  for (int r = 0; r < 4; r++) free(f.ranges[r].bitmap);
}

static volatile int running = 1;
static void on_kick(int sig) { (void)sig; }

static void *kicker(void *arg) {
  pthread_t target = *(pthread_t *)arg;
  while (running) {
    pthread_kill(target, SIGUSR1);
    usleep(1000);
  }
  return NULL;
}

/* After the run: the dirty log of the high slot (one bit per page, in u64s), and a register read
 * through KVM_GET_ONE_REG (x86 may refuse it; the recorder still sizes the buffer by the id). */
static void read_back(int vcpu) {
  uint64_t bitmap[(RAM_SIZE - HOLE_END) / 4096 / 64 + 1];
  struct kvm_dirty_log log = {.slot = 1, .dirty_bitmap = bitmap};
  if (ioctl(vm, KVM_GET_DIRTY_LOG, &log) < 0) die("KVM_GET_DIRTY_LOG");
  uint64_t value = 0;
  struct kvm_one_reg reg = {.id = KVM_REG_X86 | KVM_REG_SIZE_U64, .addr = (uintptr_t)&value};
  if (has_one_reg) ioctl(vcpu, KVM_GET_ONE_REG, &reg);
}

/* errno after a successful ioctl is the caller's, after a failing one the kernel's. */
static void check_errno(void) {
  errno = 1234;
  if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION || errno != 1234) {
    fprintf(stderr, "kvmmon: errno %d after a successful ioctl\n", errno);
    exit(3);
  }
  if (ioctl(kvm, KVM_CREATE_VCPU, 0) != -1 || errno != EINVAL) {
    fprintf(stderr, "kvmmon: errno %d, want EINVAL\n", errno);
    exit(3);
  }
  if (ioctl(1000, KVM_GET_API_VERSION, 0) != -1 || errno != EBADF) {
    fprintf(stderr, "kvmmon: errno %d, want EBADF\n", errno);
    exit(3);
  }
  /* A bad pointer: the kernel says EFAULT, and the recorder must not crash reading it. */
  if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, (void *)16) != -1 || errno != EFAULT) {
    fprintf(stderr, "kvmmon: errno %d, want EFAULT\n", errno);
    exit(3);
  }
  /* A request no schema knows: the recorder captures its 16 bytes by the _IOC bits. */
  uint64_t unknown[2] = {0x1122334455667788ull, 0};
  if (ioctl(kvm, _IOWR(KVMIO, 0xfe, uint64_t[2]), unknown) != -1 || errno != EINVAL) {
    fprintf(stderr, "kvmmon: errno %d, want EINVAL for an unknown request\n", errno);
    exit(3);
  }
}

static int open_kvm(void) {
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("/dev/kvm");
  if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) die("KVM_GET_API_VERSION");
  if (ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0) die("KVM_CAP_USER_MEMORY");
  if (ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_EXT_CPUID) <= 0) die("KVM_CAP_EXT_CPUID");
  has_device_ctrl = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_DEVICE_CTRL) > 0;
  has_one_reg = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_ONE_REG) > 0;
  return fd;
}

static int child(void) {
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0 || ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) return 1;
  return ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) > 0 ? 0 : 1;
}

static char *child_argv[] = {"kvmmon", "--child", NULL};

/* Fork a child that uses /dev/kvm, then execs this monitor as --child; or start that child with
 * posix_spawn (glibc: clone and exec without fork() or execve() through the PLT). */
static void start_child(int spawned) {
  pid_t pid;
  if (spawned) {
    if ((errno = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, child_argv, environ)) != 0) die("posix_spawn");
  } else if ((pid = fork()) == 0) {
    int fd = open_kvm();
    close(fd);
    execve("/proc/self/exe", child_argv, environ);
    _exit(127);
  } else if (pid < 0) {
    die("fork");
  }
  int status;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "kvmmon: child failed\n");
    exit(1);
  }
}

static void parse(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--mode")) {
      opt.mode = !strcmp(next, "long") ? LONG : !strcmp(next, "prot32") ? PROT32 : REAL;
      i++;
    } else if (!strcmp(a, "--vcpus")) opt.vcpus = atoi(argv[++i]);
    else if (!strcmp(a, "--exit-code")) opt.exit_code = atoi(argv[++i]);
    else if (!strcmp(a, "--exits")) opt.exits = atol(argv[++i]);
    else if (!strcmp(a, "--quiet")) opt.quiet = 1;
    else if (!strcmp(a, "--fork")) opt.fork = 1;
    else if (!strcmp(a, "--spawn")) opt.spawn = 1;
    else if (!strcmp(a, "--check-errno")) opt.check_errno = 1;
    else if (!strcmp(a, "--uninit")) opt.uninit = 1;
    else if (!strcmp(a, "--kick")) opt.kick = 1;
    else if (!strcmp(a, "--memfd")) opt.memfd = 1;
    else if (!strcmp(a, "--msr-filter")) opt.msr_filter = 1;
    else if (!strcmp(a, "--stamp")) opt.stamp = 1;
    else opt.guest = a;
    (void)next;
  }
  if (!opt.guest) {
    fprintf(stderr, "usage: kvmmon [options] GUEST.bin\n");
    exit(2);
  }
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--child")) return child();
  parse(argc, argv);
  kvm = open_kvm();
  if (opt.check_errno) check_errno();
  if (opt.fork) start_child(0);
  if (opt.spawn) start_child(1);
  mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size <= 0) die("KVM_GET_VCPU_MMAP_SIZE");
  vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  set_memory();
  use_devices();
  if (opt.msr_filter) set_msr_filter();
  struct vcpu *v[16];
  if (opt.vcpus < 1 || opt.vcpus > 16) opt.vcpus = 1;
  for (int i = 0; i < opt.vcpus; i++) v[i] = create_vcpu(i);
  for (int i = 1; i < opt.vcpus; i++)
    if (pthread_create(&v[i]->thread, NULL, run_vcpu, v[i]) != 0) die("pthread_create");
  pthread_t self = pthread_self(), kick;
  if (opt.kick) {
    struct sigaction sa = {.sa_handler = on_kick}; /* no SA_RESTART: KVM_RUN returns EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    if (pthread_create(&kick, NULL, kicker, &self) != 0) die("pthread_create");
  }
  run_vcpu(v[0]);
  running = 0;
  if (opt.kick) pthread_join(kick, NULL);
  for (int i = 1; i < opt.vcpus; i++) pthread_join(v[i]->thread, NULL);
  check_msrs(v[0]->fd);
  read_back(v[0]->fd);
  return opt.exit_code;
}
