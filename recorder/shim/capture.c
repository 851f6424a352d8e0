/* One ioctl: work out the regions it touches (from the rule table, or the _IOC bits), record their
 * bytes at entry, make the call, record them again with the result, then update what the shim
 * tracks (fds returned by create ioctls, memory slots). Target memory is read with
 * process_vm_readv on ourselves, so a bad pointer yields a problem code, never a crash. */
#define _GNU_SOURCE
#include "shim.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "memcheck_requests.h"

#ifndef KVM_SET_USER_MEMORY_REGION2
/* Linux 6.8; the build host's headers may predate it. */
struct kvm_userspace_memory_region2 {
  __u32 slot, flags;
  __u64 guest_phys_addr, memory_size, userspace_addr, guest_memfd_offset;
  __u32 guest_memfd, pad1;
  __u64 pad2[14];
};
#define KVM_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2)
#endif

#define MAX_REGIONS 64 /* arg, 16 kvm_msr_filter bitmaps, the kvm_run pair, with room to spare */
#define MAX_CAPTURE (256u << 10) /* per region; longer regions are truncated with a problem */
#define PLAN_BUDGET (768u << 10) /* per call, so that a record (twice that with vbits) fits a chunk */
#define ARG_PEEK 4096            /* bytes of the argument read to find counts and pointers */

__thread uint32_t cached_tid;

struct region {
  const char *role; /* the rule's role; for an array element, the template `index` goes into */
  uint8_t rolelen, dir, problem;
  uint8_t mapped; /* inside a kvm_run page the shim saw mapped: copied directly, no syscall */
  uint8_t index_at; /* where `index` is written into the role */
  uint16_t tmpllen; /* length of the template */
  int32_t index;    /* the array element, or -1: the role as it is */
  uint64_t addr;
  uint32_t length;
  uint8_t kept;     /* REG_KEPT: a later entry or exit may refer to these bytes */
  uint64_t same_as; /* REG_SAME: the exit record holding these bytes, or 0 */
  const uint8_t *written; /* where fill_regions put the data */
};
struct plan {
  int n;
  uint32_t bytes; /* captured so far, at most PLAN_BUDGET */
  struct region r[MAX_REGIONS];
};

int read_self(void *dst, uint64_t addr, size_t len) {
  if (!len) return 0;
  struct iovec local = {dst, len};
  struct iovec remote = {(void *)(uintptr_t)addr, len};
  ssize_t n = process_vm_readv(shim_pid, &local, 1, &remote, 1, 0);
  return n < 0 ? -1 : (int)n;
}

/* Adds a region to the plan; NULL when the plan is full (the region is then not recorded). */
static struct region *add(struct plan *p, const char *role, size_t rolelen, uint8_t dir,
                          uint64_t addr, uint64_t length, uint8_t problem) {
  if (p->n == MAX_REGIONS) return NULL;
  struct region *r = &p->r[p->n++];
  r->mapped = 0;
  r->kept = 0;
  r->same_as = 0;
  r->written = NULL;
  r->index = -1;
  r->role = role;
  r->rolelen = (uint8_t)(rolelen > 255 ? 255 : rolelen);
  r->dir = dir;
  r->addr = addr;
  r->problem = problem;
  uint64_t room = PLAN_BUDGET - p->bytes < MAX_CAPTURE ? PLAN_BUDGET - p->bytes : MAX_CAPTURE;
  if (length > room) {
    length = room;
    r->problem = PROB_TRUNCATED;
  }
  r->length = (uint32_t)length;
  p->bytes += r->length;
  return r;
}

static uint64_t field(const uint8_t *arg, size_t have, uint64_t off, uint32_t width) {
  if (off + width > have) return 0;
  uint64_t v = 0;
  memcpy(&v, arg + off, width > 8 ? 8 : width); /* little-endian */
  return v;
}

/* Size of what an embedded pointer points to, or -1 when no rule gives it. `elem` is the offset of
 * the array element the pointer is in, added to the size field's offset under PTR_SIZE_IN_ELEM. */
static int64_t pointee_size(const struct rule_ptr *q, const uint8_t *arg, size_t have,
                            const struct fdinfo *fi, uint8_t *dir, uint64_t ptr, uint64_t elem) {
  uint64_t count_at = q->p_off + ((q->flags & PTR_SIZE_IN_ELEM) ? elem : 0);
  switch (q->size_kind) {
  case SZ_CONST:
    return q->p_const;
  case SZ_FIELD:
    return (int64_t)((field(arg, have, count_at, q->fsize) * q->p_const + SCALE_ONE - 1) / SCALE_ONE + q->p_add);
  case SZ_FIELD_BITS:
    return (int64_t)((field(arg, have, count_at, q->fsize) + 63) / 64 * 8);
  case SZ_ONE_REG:
    return (int64_t)1 << ((field(arg, have, q->p_off, 8) & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT);
  case SZ_DIRTY_BITMAP: {
    uint64_t pages = guestmem_slot_size((uint32_t)field(arg, have, q->p_off, 4)) / 4096;
    return pages ? (int64_t)((pages + 63) / 64 * 8) : -1;
  }
  case SZ_DEVICE_ATTR: {
    uint32_t device = !fi                     ? ATTR_ANY
                      : fi->kind == OBJ_SYSTEM ? ATTR_SYSTEM
                      : fi->kind == OBJ_VM     ? ATTR_VM
                      : fi->kind == OBJ_VCPU   ? ATTR_VCPU
                                               : fi->devtype;
    const struct rule_attr *a =
        rule_attr_find(device, (uint32_t)field(arg, have, q->p_off, 4), field(arg, have, q->p_add, 8));
    if (!a) return -1;
    if (!*dir) *dir = a->dir; /* the ioctl (GET or SET) says which way; the entry only if it does not */
    return a->size;
  }
  case SZ_CSTRING: {
    char buf[256];
    int n = read_self(buf, ptr, sizeof buf);
    if (n <= 0) return -1;
    char *z = memchr(buf, 0, (size_t)n);
    return z ? z - buf + 1 : n;
  }
  }
  return -1;
}

static size_t digits(uint32_t v) {
  size_t n = 1;
  while (v >= 10) v /= 10, n++;
  return n;
}

static void plan_schema(struct plan *p, const struct rule *r, const struct fdinfo *fi, void *argp) {
  if (r->argkind != ARG_POINTER) return;
  uint8_t arg[ARG_PEEK];
  uint32_t want = r->argsize < ARG_PEEK ? r->argsize : ARG_PEEK;
  int got = read_self(arg, (uintptr_t)argp, want);
  if (got < (int)want) {
    add(p, "arg", 3, r->dir, (uintptr_t)argp, r->argsize, PROB_UNREADABLE);
    return;
  }
  uint64_t length = r->argsize;
  uint8_t problem = PROB_NONE;
  if (r->tail_count != NO_FIELD) {
    uint64_t count = field(arg, (size_t)got, r->tail_count, r->tail_count_size);
    if (r->tail_max && count > r->tail_max) count = r->tail_max, problem = PROB_BAD_COUNT;
    length = r->tail_off + count * r->tail_elem;
  }
  add(p, "arg", 3, r->dir | r->tail_dir, (uintptr_t)argp, length, problem);
  const struct rule_ptr *q = rule_ptrs(r);
  for (int i = 0; i < r->ptr_count; i++, q++) {
    uint32_t n = q->count ? q->count : 1;
    for (uint32_t e = 0; e < n && p->n < MAX_REGIONS; e++) {
      uint64_t elem = (uint64_t)e * q->stride;
      if (q->field + elem + q->width > (uint64_t)got) break; /* past what was read of the argument */
      uint64_t ptr = field(arg, (size_t)got, q->field + elem, q->width);
      if (!ptr) continue;
      uint8_t dir = q->dir;
      int64_t size = pointee_size(q, arg, (size_t)got, fi, &dir, ptr, elem);
      if (q->count && size <= 0) continue; /* an unused element: planRegions skips it too */
      size_t rolelen = q->rolelen + (q->count ? digits(e) : 0);
      struct region *g = add(p, rule_str(q->role), rolelen, dir, ptr, size < 0 ? 0 : (uint64_t)size,
                             size < 0 ? PROB_UNKNOWN_SIZE : PROB_NONE);
      if (g && q->count) g->index = (int32_t)e, g->index_at = q->index_at, g->tmpllen = q->rolelen;
    }
  }
}

/* No rule: trust the _IOC direction and size bits. */
static void plan_generic(struct plan *p, unsigned long request, void *argp) {
  uint32_t size = _IOC_SIZE(request), d = _IOC_DIR(request);
  uint8_t dir = (d & _IOC_WRITE ? DIR_IN : 0) | (d & _IOC_READ ? DIR_OUT : 0);
  if (size && dir) add(p, "arg", 3, dir, (uintptr_t)argp, size, PROB_NONE);
}

/* The kvm_run header and exit union, and the I/O data of the exit the page describes now. */
static void plan_run(struct plan *p, const struct fdinfo *fi) {
  const struct kvm_run *run = fi->run;
  if (!run) return; /* unmapped by another thread meanwhile */
  struct region *r = add(p, "run", 3, DIR_INOUT, (uintptr_t)run, RUN_HEAD, PROB_NONE);
  if (r) r->mapped = 1;
  if (run->exit_reason != KVM_EXIT_IO) return;
  uint64_t off = run->io.data_offset, len = (uint64_t)run->io.size * run->io.count;
  if (off >= fi->runsize) return;
  if (len > fi->runsize - off) len = fi->runsize - off;
  r = add(p, "run.io", 6, run->io.direction == KVM_EXIT_IO_IN ? DIR_OUT : DIR_IN,
          (uintptr_t)run + off, len, PROB_NONE);
  if (r) r->mapped = 1;
}

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* The region's role; an array element's is the template with its index written in. */
static void put_role(uint8_t *dst, const struct region *r) {
  if (r->index < 0) {
    memcpy(dst, r->role, r->rolelen);
    return;
  }
  char buf[256 + 12];
  size_t n = r->index_at, k = digits((uint32_t)r->index), rest = r->tmpllen - r->index_at;
  memcpy(buf, r->role, n);
  for (uint32_t v = (uint32_t)r->index, j = 0; j < k; j++, v /= 10) buf[n + k - 1 - j] = (char)('0' + v % 10);
  n += k;
  if (rest > sizeof buf - n) rest = sizeof buf - n;
  memcpy(buf + n, r->role + r->index_at, rest);
  memcpy(dst, buf, r->rolelen);
}

static size_t regions_bytes(const struct plan *p, int vbits) {
  size_t n = 0;
  for (int i = 0; i < p->n; i++)
    n += sizeof(struct rec_region) + pad8(p->r[i].rolelen) +
         (p->r[i].same_as ? 8 : pad8(p->r[i].length) * ((vbits && (p->r[i].dir & DIR_IN)) ? 2 : 1));
  return n;
}

/* Copy the regions' current bytes (and at entry, their definedness) into a record body. */
static void fill_regions(uint8_t *out, struct plan *p, int vbits) {
  for (int i = 0; i < p->n; i++) {
    struct region *r = &p->r[i];
    struct rec_region *h = (struct rec_region *)out;
    uint8_t *role = (uint8_t *)(h + 1), *data = role + pad8(r->rolelen);
    int with_vbits = vbits && (r->dir & DIR_IN);
    h->dir = r->dir;
    h->rolelen = r->rolelen;
    h->addr = r->addr;
    h->length = r->length;
    h->problem = r->problem;
    put_role(role, r);
    if (r->same_as) {
      h->size = (uint32_t)(sizeof *h + pad8(r->rolelen) + 8);
      h->flags = REG_SAME;
      h->datalen = 0;
      memcpy(data, &r->same_as, 8);
      out += h->size;
      continue;
    }
    h->size = (uint32_t)(sizeof *h + pad8(r->rolelen) + pad8(r->length) * (with_vbits ? 2 : 1));
    r->written = data;
    int got = r->mapped ? (memcpy(data, (void *)(uintptr_t)r->addr, r->length), (int)r->length)
                        : read_self(data, r->addr, r->length);
    h->datalen = got < 0 ? 0 : (uint32_t)got;
    h->flags = REG_DATA | (r->kept ? REG_KEPT : 0);
    if (h->datalen < r->length && !h->problem) h->problem = PROB_UNREADABLE;
    if (with_vbits && h->datalen &&
        VALGRIND_GET_VBITS((void *)(uintptr_t)r->addr, data + pad8(r->length), h->datalen) == 1)
      h->flags |= REG_VBITS;
    out += h->size;
  }
}

static uint64_t write_enter(int fd, unsigned long request, void *argp, struct plan *p,
                            uint64_t t) {
  uint64_t off = 0;
  size_t body = sizeof(struct rec_ioctl_enter) + regions_bytes(p, shim_valgrind);
  struct rec *r = rec_begin((uint32_t)body, &off);
  if (!r) return 0;
  struct rec_ioctl_enter *e = (struct rec_ioctl_enter *)(r + 1);
  e->fd = fd;
  e->request = (uint32_t)request;
  e->arg = (uintptr_t)argp;
  e->nregions = (uint32_t)p->n;
  fill_regions((uint8_t *)(e + 1), p, shim_valgrind);
  r->time = t;
  rec_commit(r, REC_IOCTL_ENTER);
  return off;
}

/* Returns the exit record's offset, 0 if it could not be written. */
static uint64_t write_exit(uint64_t enter_off, long ret, int err, struct plan *p, uint64_t t) {
  uint64_t off = 0;
  size_t body = sizeof(struct rec_ioctl_exit) + regions_bytes(p, 0);
  struct rec *r = rec_begin((uint32_t)body, &off);
  if (!r) return 0;
  struct rec_ioctl_exit *x = (struct rec_ioctl_exit *)(r + 1);
  x->enter_offset = enter_off;
  x->ret = ret;
  x->err = ret < 0 ? err : 0;
  x->nregions = (uint32_t)p->n;
  fill_regions((uint8_t *)(x + 1), p, 0);
  r->time = t;
  rec_commit(r, REC_IOCTL_EXIT);
  return off;
}

/* What a successful call changes in the shim's view: new fds, memory slots. */
static void track(const struct rule *r, const struct fdinfo *fi, unsigned long request, void *argp,
                  long ret) {
  if (r && (r->flags & RULE_RET_FD)) {
    uint8_t buf[8] = {0};
    int newfd = (int)ret;
    if (r->ret_field != NO_FIELD && read_self(buf, (uintptr_t)argp + r->ret_field, 4) == 4)
      memcpy(&newfd, buf, 4);
    uint32_t devtype = 0;
    if (r->ret_type != NO_FIELD) read_self(&devtype, (uintptr_t)argp + r->ret_type, 4);
    fd_set_kind(newfd, r->retkind, devtype);
  }
  if (fi && fi->kind != OBJ_VM) return;
  if (request == KVM_SET_USER_MEMORY_REGION) {
    struct kvm_userspace_memory_region m;
    if (read_self(&m, (uintptr_t)argp, sizeof m) == (int)sizeof m)
      guestmem_slot_set(m.slot, m.guest_phys_addr, m.memory_size, m.userspace_addr);
  } else if (request == KVM_SET_USER_MEMORY_REGION2) {
    struct kvm_userspace_memory_region2 m;
    if (read_self(&m, (uintptr_t)argp, sizeof m) == (int)sizeof m)
      guestmem_slot_set(m.slot, m.guest_phys_addr, m.memory_size, m.userspace_addr);
  }
}

long record_ioctl(int fd, unsigned long request, void *argp, int saved_errno) {
  struct fdinfo *fi = fd_info(fd);
  const struct rule *r = rule_find((uint32_t)request, fi ? fi->kind : OBJ_NONE);
  struct plan p = {0};
  if (r) plan_schema(&p, r, fi, argp);
  else plan_generic(&p, request, argp);
  int run = r && (r->flags & RULE_RUN) && fi && fi->run;
  int fixed = p.n;
  uint32_t fixed_bytes = p.bytes;
  /* Under memcheck every input byte needs its definedness: no references to earlier bytes. */
  struct run_memo *memo = run && !shim_valgrind ? run_memo_for(fi->run) : NULL;
  if (run) {
    guestmem_flush_writes();
    plan_run(&p, fi);
    /* The run region is whole unless the call's byte budget cut it (then it has a problem). */
    if (memo && p.n > fixed && !p.r[fixed].problem) p.r[fixed].same_as = run_memo_match(memo, fi->run);
  }
  uint64_t t = now_ns();
  uint64_t enter = write_enter(fd, request, argp, &p, t);

  errno = saved_errno; /* a successful call leaves errno as the target had it */
  long ret = real_ioctl(fd, request, argp);
  int err = errno;
  uint64_t t_end = now_ns();

  if (run) {
    p.n = fixed;
    p.bytes = fixed_bytes;
    plan_run(&p, fi);
    /* An exit like the last one (the same port, the same MMIO address) names it too; otherwise
     * its bytes become the ones later entries and exits compare with. */
    if (memo && p.n > fixed && !p.r[fixed].problem) {
      p.r[fixed].same_as = run_memo_match(memo, fi->run);
      p.r[fixed].kept = !p.r[fixed].same_as;
    }
  }
  uint64_t exit_off = enter ? write_exit(enter, ret, err, &p, t_end) : 0;
  if (exit_off && p.n > fixed && p.r[fixed].kept) run_memo_keep(memo, exit_off, p.r[fixed].written);
  if (ret >= 0) {
    if (shim_valgrind)
      for (int i = 0; i < p.n; i++)
        if (p.r[i].dir & DIR_OUT) VALGRIND_MAKE_MEM_DEFINED((void *)(uintptr_t)p.r[i].addr, p.r[i].length);
    track(r, fi, request, argp, ret);
  }
  errno = err;
  return ret;
}
