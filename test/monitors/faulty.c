/* faulty: a KVM monitor with one planted mistake each, for the checker's tests. Every mode does the
 * protocol right (API version first, capabilities checked); only the planted bug is wrong.
 *
 *   faulty regs    KVM_SET_REGS with rbx never initialised (the struct comes from malloc)
 *   faulty attr    KVM_SET_DEVICE_ATTR on a VFIO device with the group fd behind addr never set
 *   faulty cpuid   KVM_SET_CPUID2 with one more entry than it filled
 *   faulty size    KVM_GET_REGS encoded with a 136-byte struct
 *   faulty abi     KVM_X86_SET_MSR_FILTER, whose struct holds pointers (build it with -m32)
 *   faulty clean   all of the above done right
 *
 * Exit status 0 whatever the kernel answers the planted call; 1 when the setup itself fails. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int kvm, vm, vcpu;

static void die(const char *what) {
  fprintf(stderr, "faulty: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void need(long cap, const char *name) {
  if (ioctl(kvm, KVM_CHECK_EXTENSION, cap) <= 0) die(name);
}

static void setup(void) {
  kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("/dev/kvm");
  if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) die("KVM_GET_API_VERSION");
  vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
}

static void set_regs(int plant) {
  struct kvm_regs *r = malloc(sizeof *r);
  if (!plant) memset(r, 0, sizeof *r);
  r->rax = r->rcx = r->rdx = r->rsi = r->rdi = r->rsp = r->rbp = 0;
  r->r8 = r->r9 = r->r10 = r->r11 = r->r12 = r->r13 = r->r14 = r->r15 = 0;
  r->rip = 0x1000;
  r->rflags = 2;
  if (!plant) r->rbx = 0;
  ioctl(vcpu, KVM_SET_REGS, r);
  free(r);
}

static void device_attr(int plant) {
  need(KVM_CAP_DEVICE_CTRL, "KVM_CAP_DEVICE_CTRL");
  struct kvm_create_device cd = {.type = KVM_DEV_TYPE_VFIO};
  if (ioctl(vm, KVM_CREATE_DEVICE, &cd) < 0) die("KVM_CREATE_DEVICE");
  int32_t *group = malloc(sizeof *group);
  if (!plant) *group = -1;
  struct kvm_device_attr a = {.group = KVM_DEV_VFIO_GROUP, .attr = KVM_DEV_VFIO_GROUP_ADD, .addr = (uintptr_t)group};
  ioctl(cd.fd, KVM_SET_DEVICE_ATTR, &a); /* no such VFIO group: the kernel refuses it */
  free(group);
}

static void cpuid(int plant) {
  need(KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID");
  int n = 100;
  struct kvm_cpuid2 *got = calloc(1, sizeof *got + n * sizeof got->entries[0]);
  got->nent = n;
  if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, got) < 0) die("KVM_GET_SUPPORTED_CPUID");
  int have = got->nent, extra = plant ? 1 : 0;
  struct kvm_cpuid2 *set = malloc(sizeof *set + (have + extra) * sizeof set->entries[0]);
  memset(set, 0, sizeof *set);
  set->nent = have + extra;
  memcpy(set->entries, got->entries, have * sizeof got->entries[0]);
  ioctl(vcpu, KVM_SET_CPUID2, set);
  free(set);
  free(got);
}

static void wrong_size(int plant) {
  uint8_t regs[sizeof(struct kvm_regs)];
  /* The planted number says 136 bytes: a kvm_regs from a header that lost a register. */
  unsigned long request = plant ? _IOR(KVMIO, 0x81, uint8_t[136]) : KVM_GET_REGS;
  ioctl(vcpu, request, regs);
}

static void msr_filter(void) {
  need(KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER");
  struct kvm_msr_filter f;
  memset(&f, 0, sizeof f);
  f.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
  ioctl(vm, KVM_X86_SET_MSR_FILTER, &f);
}

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "";
  setup();
  int clean = !strcmp(what, "clean");
  if (clean || !strcmp(what, "regs")) set_regs(!clean);
  if (clean || !strcmp(what, "attr")) device_attr(!clean);
  if (clean || !strcmp(what, "cpuid")) cpuid(!clean);
  if (clean || !strcmp(what, "size")) wrong_size(!clean);
  if (!strcmp(what, "abi")) msr_filter();
  return 0;
}
