/* Guest memory: its contents when a slot is registered, and every page written between runs,
 * recorded before the KVM_RUN that follows. The cost must follow what changed, not guest RAM:
 *
 *  1. userfaultfd write-protect, synchronous (needs a uffd that may handle kernel faults: root,
 *     CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1). The slots are write-protected; the first
 *     write to a page, by the monitor or by KVM for the guest, stops in the kernel and a shim thread
 *     notes the page, queues it and lifts the protection. At the next KVM_RUN the queued pages are
 *     protected again and recorded. A run with nothing written costs no system call at all. A page
 *     written at run after run is left unprotected for a while instead (see hot pages below).
 *  2. userfaultfd write-protect, asynchronous, with PAGEMAP_SCAN (Linux 6.7+, allowed with
 *     UFFD_USER_MODE_ONLY): the kernel clears the page's protection itself; at each KVM_RUN a
 *     read-only scan finds written pages and a protecting scan of just those records them. One
 *     system call per run; the scan walks the slots' page tables (1/512 of their size).
 *  3. A shadow copy compared page by page at each KVM_RUN: O(guest RAM), the fallback where
 *     userfaultfd is missing or refused (and under valgrind, which does not model it).
 *
 * The kernel's write bit cannot tell the guest's writes from the monitor's, so pages the guest
 * wrote are recorded too, with the contents they have when the next run starts.
 * Constants newer than the build host's headers are defined here (Linux 6.7 values). */
#define _GNU_SOURCE
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "memcheck_requests.h"

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
struct pm_page_region { uint64_t start, end, categories; };
struct pm_scan_arg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)

#define PAGE 4096u
#define MAX_SLOTS 512
#define SCRATCH (256u * PAGE)
#define QUEUE 65536u

enum track { TRACK_NONE, TRACK_SYNC, TRACK_ASYNC, TRACK_SHADOW };

struct slot {
  _Atomic int live;
  uint32_t id;
  uint64_t gpa, size, uaddr;
  int wp;                  /* protected by userfaultfd (TRACK_SYNC or TRACK_ASYNC) */
  _Atomic uint64_t *dirty; /* TRACK_SYNC: one bit per page, set while the page is queued */
  uint64_t dirty_pages;    /* capacity of `dirty`; it is never freed or shrunk, because the fault
                              thread may still be looking at it while the slot is replaced */
  uint8_t *shadow;         /* TRACK_SHADOW: the contents last recorded */
  uint8_t *scratch;        /* TRACK_SHADOW: pages read back for comparison */
  atomic_flag busy;        /* TRACK_SHADOW: one comparer at a time */
};

static struct slot slots[MAX_SLOTS];
static _Atomic int slots_top; /* slots at and above this index were never used */
static int uffd = -1, pagemap_fd = -1;
static enum track mode;
static int mode_known;

/* TRACK_SYNC: pages written since they were last recorded. One producer (the fault thread),
 * any number of consumers (vCPU threads entering KVM_RUN) claiming entries by CAS on the tail. */
static uint64_t queue[QUEUE];
static _Atomic uint64_t q_head, q_tail;
static _Atomic int q_overflow; /* the queue was full: look at every slot's dirty bits */

/* TRACK_SYNC: hot pages. A page written at run after run (a stack, a counter, a BIOS data area)
 * would cost a fault round trip through the fault thread at each run, and a protection again
 * (a TLB flush, and KVM drops its mappings of the page): booting QEMU paid that about 2,000 times.
 * A page recorded again within HOT_NEAR flushes is left unprotected instead, and each flush
 * compares it with a copy of what was last recorded and records it when it changed; once it has
 * stayed the same for HOT_IDLE flushes it is protected again. The set is used by one flush at a
 * time (hot_busy); a flush that finds it busy leaves it to the one that has it, and waits for that
 * flush to finish before its KVM_RUN like for any flush in flight. */
#define HOT_MAX 32
#define HOT_NEAR 4
#define HOT_IDLE 16
#define RECENT 1024 /* when each page was last recorded, by a hash of its address (a hint: collisions only lose it) */

struct hot_page { uint64_t page; uint32_t idle; uint8_t copy[PAGE]; };
static struct hot_page hot[HOT_MAX];
static _Atomic int nhot; /* changed only with hot_busy held; read without it to skip an empty set */
static atomic_flag hot_busy;
static _Atomic uint64_t flush_gen;
static struct { _Atomic uint64_t page, gen; } recent[RECENT];

static void emit(uint32_t why, uint64_t addr, const uint8_t *data, uint64_t len) {
  while (len) {
    uint32_t n = len > RAW_MAX_RECORD ? RAW_MAX_RECORD : (uint32_t)len;
    void *p = rec_begin((uint32_t)sizeof(struct rec_memory) + n, NULL);
    if (!p) return;
    struct rec_memory *m = (struct rec_memory *)((struct rec *)p + 1);
    m->why = why;
    m->length = n;
    m->addr = addr;
    if (data) {
      memcpy(m + 1, data, n);
      data += n;
    } else if (read_self(m + 1, addr, n) != (int)n) {
      m->length = 0;
    }
    rec_commit(p, REC_MEMORY);
    addr += n;
    len -= n;
  }
}

static struct slot *slot_of_page(uint64_t page, uint64_t *index) {
  int top = atomic_load(&slots_top);
  for (int i = 0; i < top; i++) {
    struct slot *s = &slots[i];
    if (atomic_load(&s->live) && s->dirty && page >= s->uaddr && page < s->uaddr + s->size) {
      *index = (page - s->uaddr) / PAGE;
      /* A slot replaced under our feet can give a stale index: never past the bitmap. */
      return *index < s->dirty_pages ? s : NULL;
    }
  }
  return NULL;
}

static void protect(uint64_t start, uint64_t len) {
  struct uffdio_writeprotect wp = {.range = {.start = start, .len = len}, .mode = UFFDIO_WRITEPROTECT_MODE_WP};
  real_ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
}

/* ---- TRACK_SYNC: the fault thread ---------------------------------------------------------- */

/* Sets the page's bit and queues it unless it was queued already; returns its slot. */
static struct slot *queue_page(uint64_t page) {
  uint64_t index;
  struct slot *s = slot_of_page(page, &index);
  if (!s) return NULL;
  uint64_t bit = 1ull << (index % 64);
  if (atomic_fetch_or(&s->dirty[index / 64], bit) & bit) return s;
  uint64_t head = atomic_load_explicit(&q_head, memory_order_relaxed);
  if (head - atomic_load(&q_tail) >= QUEUE) {
    atomic_store(&q_overflow, 1);
    return s;
  }
  queue[head % QUEUE] = page;
  atomic_store_explicit(&q_head, head + 1, memory_order_release);
  return s;
}

static int page_queued(struct slot *s, uint64_t page) {
  uint64_t index = (page - s->uaddr) / PAGE;
  return index < s->dirty_pages && (atomic_load(&s->dirty[index / 64]) >> (index % 64) & 1);
}

/* Notes each page written under protection and lets the writer go on. No locks, no allocation:
 * the writer may be any thread of the target, holding anything.
 * The page is queued before the writer is released, so the writer's next KVM_RUN finds it. A vCPU
 * thread entering KVM_RUN meanwhile may take it from the queue and protect it again before we lift
 * the protection: then the write would land unprotected and unqueued, so it is queued again. */
static void *fault_thread(void *unused) {
  (void)unused;
  struct uffd_msg msg[16];
  for (;;) {
    ssize_t n = read(uffd, msg, sizeof msg); /* blocks: this uffd is not O_NONBLOCK */
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return NULL;
    }
    for (ssize_t i = 0; i < n / (ssize_t)sizeof msg[0]; i++) {
      if (msg[i].event != UFFD_EVENT_PAGEFAULT || !(msg[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
        continue;
      uint64_t page = msg[i].arg.pagefault.address & ~(uint64_t)(PAGE - 1);
      struct slot *s = queue_page(page);
      struct uffdio_writeprotect lift = {.range = {.start = page, .len = PAGE}, .mode = 0};
      if (real_ioctl(uffd, UFFDIO_WRITEPROTECT, &lift) != 0) {
        /* Never leave the writer waiting: if the protection cannot be lifted it faults again. */
        struct uffdio_range wake = {.start = page, .len = PAGE};
        real_ioctl(uffd, UFFDIO_WAKE, &wake);
      } else if (s && !page_queued(s, page)) {
        queue_page(page);
      }
    }
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int hot_index(uint64_t page) {
  for (int i = 0; i < nhot; i++)
    if (hot[i].page == page) return i;
  return -1;
}

/* Records a hot page when it changed since its copy was taken; returns 1 when it did. */
static int hot_record(struct hot_page *h) {
  uint8_t now[PAGE];
  if (read_self(now, h->page, PAGE) != (int)PAGE || memcmp(now, h->copy, PAGE) == 0) return 0;
  memcpy(h->copy, now, PAGE);
  emit(MEM_WRITE, h->page, h->copy, PAGE);
  return 1;
}

/* With hot_busy held: a page written again soon after it was last recorded joins the hot pages,
 * unprotected (the fault thread lifted its protection), recorded here; returns 1 when the page is
 * hot and recorded. */
static int heat(uint64_t page, uint64_t gen) {
  size_t at = (size_t)(((page / PAGE) * 0x9e3779b97f4a7c15ull) >> 54) % RECENT;
  uint64_t last = atomic_load_explicit(&recent[at].page, memory_order_relaxed) == page
                      ? atomic_load_explicit(&recent[at].gen, memory_order_relaxed) : 0;
  atomic_store_explicit(&recent[at].page, page, memory_order_relaxed);
  atomic_store_explicit(&recent[at].gen, gen, memory_order_relaxed);
  int i = hot_index(page);
  if (i >= 0) { /* hot already: the fault thread queued it again after a race with a protection */
    hot_record(&hot[i]);
  } else {
    if (!last || gen - last > HOT_NEAR || nhot == HOT_MAX) return 0;
    i = nhot;
    hot[i].page = page;
    if (read_self(hot[i].copy, page, PAGE) != (int)PAGE) return 0;
    nhot++;
    emit(MEM_WRITE, page, hot[i].copy, PAGE);
  }
  hot[i].idle = 0;
  return 1;
}

/* Each flush: record the hot pages that changed; protect again those that stayed the same for
 * HOT_IDLE flushes (then look once more: a write just before the protection is recorded too). A
 * page whose slot is gone is dropped. */
static void hot_flush(void) {
  /* Most monitors write no page between runs: an empty set costs a run one load, not a lock. */
  if (!atomic_load_explicit(&nhot, memory_order_relaxed) || atomic_flag_test_and_set(&hot_busy)) return;
  for (int i = 0; i < nhot;) {
    struct hot_page *h = &hot[i];
    uint64_t index;
    if (!slot_of_page(h->page, &index)) {
      hot[i] = hot[--nhot]; /* its slot is gone */
      continue;
    }
    if (hot_record(h)) {
      h->idle = 0;
    } else if (++h->idle >= HOT_IDLE) {
      protect(h->page, PAGE);
      hot_record(h); /* a write just before the protection */
      hot[i] = hot[--nhot];
      continue;
    }
    i++;
  }
  atomic_flag_clear(&hot_busy);
}

/* Record a batch of written pages: protect them again, then read them, so that a write after the
 * protection faults again and is queued again. Adjacent pages share one UFFDIO_WRITEPROTECT (each
 * call flushes TLBs and makes KVM drop its mappings of the range) and one memory record. */
static void record_pages(uint64_t *pages, size_t n, uint64_t gen) {
  size_t kept = 0;
  int hot_mine = !atomic_flag_test_and_set(&hot_busy);
  for (size_t i = 0; i < n; i++) {
    uint64_t index;
    struct slot *s = slot_of_page(pages[i], &index);
    if (!s) continue;
    atomic_fetch_and(&s->dirty[index / 64], ~(1ull << (index % 64)));
    if (hot_mine && heat(pages[i], gen)) continue;
    pages[kept++] = pages[i];
  }
  if (hot_mine) atomic_flag_clear(&hot_busy);
  qsort(pages, kept, sizeof *pages, cmp_u64);
  for (size_t i = 0; i < kept;) {
    size_t j = i + 1;
    while (j < kept && pages[j] == pages[j - 1] + PAGE) j++;
    protect(pages[i], (j - i) * PAGE);
    emit(MEM_WRITE, pages[i], NULL, (j - i) * PAGE);
    i = j;
  }
}

static void sync_flush(void) {
  uint64_t gen = atomic_fetch_add(&flush_gen, 1) + 1;
  hot_flush();
  uint64_t batch[256];
  size_t n = 0;
  for (;;) {
    uint64_t tail = atomic_load(&q_tail);
    if (tail == atomic_load_explicit(&q_head, memory_order_acquire)) break;
    uint64_t page = queue[tail % QUEUE];
    if (!atomic_compare_exchange_weak(&q_tail, &tail, tail + 1)) continue;
    batch[n++] = page;
    if (n == 256) {
      record_pages(batch, n, gen);
      n = 0;
    }
  }
  if (n) record_pages(batch, n, gen);
  if (!atomic_exchange(&q_overflow, 0)) return;
  int top = atomic_load(&slots_top);
  for (int i = 0; i < top; i++) {
    struct slot *s = &slots[i];
    if (!atomic_load(&s->live) || !s->dirty) continue;
    for (uint64_t w = 0; w < (s->size / PAGE + 63) / 64; w++) {
      n = 0;
      for (uint64_t bits = atomic_load(&s->dirty[w]); bits; bits &= bits - 1)
        batch[n++] = s->uaddr + (w * 64 + (uint64_t)__builtin_ctzll(bits)) * PAGE;
      record_pages(batch, n, gen);
    }
  }
}

/* ---- TRACK_ASYNC: PAGEMAP_SCAN ------------------------------------------------------------ */

/* One PAGEMAP_SCAN over [start, end) for written pages of VMAs under our protection. With
 * `protect`, they are reported and protected again atomically (and KVM's mappings of them are
 * invalidated, so that is done only where something was written). */
static long scan(uint64_t start, uint64_t end, int reprotect, struct pm_page_region *vec, int n,
                 uint64_t *walk_end) {
  struct pm_scan_arg a = {.size = sizeof a, .flags = reprotect ? PM_SCAN_WP_MATCHING : 0,
                          .start = start, .end = end,
                          .vec = (uint64_t)(uintptr_t)vec, .vec_len = (uint64_t)n,
                          .category_mask = PAGE_IS_WRITTEN | PAGE_IS_WPALLOWED,
                          .return_mask = PAGE_IS_WRITTEN};
  long got = real_ioctl(pagemap_fd, PAGEMAP_SCAN, &a);
  *walk_end = a.walk_end;
  return got;
}

static void async_flush(uint64_t lo, uint64_t hi) {
  struct pm_page_region found[32], got[32];
  uint64_t start = lo, walk_end;
  while (start < hi) {
    long n = scan(start, hi, 0, found, 32, &walk_end);
    if (n < 0) {
      note("PAGEMAP_SCAN failed: guest memory writes may be missing");
      return;
    }
    for (long i = 0; i < n; i++) {
      uint64_t s = found[i].start, end;
      while (s < found[i].end) {
        long m = scan(s, found[i].end, 1, got, 32, &end);
        for (long j = 0; j < m; j++) emit(MEM_WRITE, got[j].start, NULL, got[j].end - got[j].start);
        if (m < 32 || end <= s) break;
        s = end;
      }
    }
    if (n < 32 || walk_end <= start) break;
    start = walk_end;
  }
}

/* ---- TRACK_SHADOW ----------------------------------------------------------------------------- */

static void shadow_flush(struct slot *s) {
  if (atomic_flag_test_and_set(&s->busy)) return;
  if (!atomic_load(&s->live) || !s->shadow) { /* released while we waited */
    atomic_flag_clear(&s->busy);
    return;
  }
  for (uint64_t off = 0; off < s->size; off += SCRATCH) {
    uint64_t n = s->size - off < SCRATCH ? s->size - off : SCRATCH;
    if (read_self(s->scratch, s->uaddr + off, n) != (int)n) continue;
    for (uint64_t p = 0; p < n; p += PAGE) {
      uint64_t len = n - p < PAGE ? n - p : PAGE;
      if (memcmp(s->scratch + p, s->shadow + off + p, len) == 0) continue;
      emit(MEM_WRITE, s->uaddr + off + p, s->scratch + p, len);
      memcpy(s->shadow + off + p, s->scratch + p, len);
    }
  }
  atomic_flag_clear(&s->busy);
}

/* ---- choosing the method, registering slots -------------------------------------------------- */

static int open_uffd(int flags, uint64_t features) {
  int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | flags);
  if (fd < 0) return -1;
  struct uffdio_api api = {.api = UFFD_API, .features = features};
  if (real_ioctl(fd, UFFDIO_API, &api) != 0) {
    real_close(fd);
    return -1;
  }
  int high = fcntl(fd, F_DUPFD_CLOEXEC, 900);
  real_close(fd);
  return high;
}

/* IOCTLGRIND_MEMTRACK=async or =shadow skips the better methods (for tests, or a kernel where
 * they misbehave). */
static enum track choose(void) {
  const char *want = getenv("IOCTLGRIND_MEMTRACK");
  int skip_sync = want && (!strcmp(want, "async") || !strcmp(want, "shadow"));
  int skip_async = want && !strcmp(want, "shadow");
  if (RUNNING_ON_VALGRIND || skip_async) return TRACK_SHADOW;
  /* Shared memory (memfd, as QEMU often backs guest RAM) needs WP_HUGETLBFS_SHMEM (Linux 5.19). */
  const uint64_t wp = UFFD_FEATURE_WP_UNPOPULATED, shmem = UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
  if (!skip_sync && (uffd = open_uffd(0, wp | shmem)) < 0) uffd = open_uffd(0, wp);
  if (uffd >= 0) {
    /* The fault thread starts with every signal blocked: the target's signals are not for it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int ok = pthread_create(&t, NULL, fault_thread, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (ok) return TRACK_SYNC;
    real_close(uffd);
  }
  const int async = O_NONBLOCK | UFFD_USER_MODE_ONLY;
  if ((uffd = open_uffd(async, UFFD_FEATURE_WP_ASYNC | wp | shmem)) < 0) uffd = open_uffd(async, UFFD_FEATURE_WP_ASYNC | wp);
  if (uffd < 0) return TRACK_SHADOW;
  int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pm >= 0) {
    pagemap_fd = fcntl(pm, F_DUPFD_CLOEXEC, 900);
    real_close(pm);
  }
  return pagemap_fd >= 0 ? TRACK_ASYNC : TRACK_SHADOW;
}

int guestmem_owns_fd(int fd) { return fd >= 0 && (fd == uffd || fd == pagemap_fd); }

static const char *mode_name(void) {
  return mode == TRACK_SYNC ? "userfaultfd write-protect" : mode == TRACK_ASYNC ? "PAGEMAP_SCAN" : "shadow compare";
}

static int wp_track(struct slot *s) {
  if (mode != TRACK_SYNC && mode != TRACK_ASYNC) return 0;
  if (s->uaddr % PAGE || s->size % PAGE) return 0;
  struct uffdio_register reg = {.range = {.start = s->uaddr, .len = s->size},
                                .mode = UFFDIO_REGISTER_MODE_WP};
  if (real_ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) return 0;
  if (mode == TRACK_SYNC && s->dirty_pages >= s->size / PAGE) {
    memset((void *)s->dirty, 0, (s->dirty_pages + 63) / 64 * 8);
  } else if (mode == TRACK_SYNC) { /* a smaller old bitmap stays mapped: see dirty_pages */
    size_t bytes = (s->size / PAGE + 63) / 64 * 8;
    void *d = real_mmap64(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    s->dirty = d == MAP_FAILED ? NULL : d;
    s->dirty_pages = d == MAP_FAILED ? 0 : s->size / PAGE;
  }
  if (mode == TRACK_SYNC && !s->dirty) {
    struct uffdio_range r = {.start = s->uaddr, .len = s->size};
    real_ioctl(uffd, UFFDIO_UNREGISTER, &r);
    return 0;
  }
  protect(s->uaddr, s->size);
  return 1;
}

static int all_zero(const uint8_t *p, uint64_t n) {
  for (uint64_t i = 0; i < n; i += 8)
    if (*(const uint64_t *)(p + i)) return 0;
  return 1;
}

/* Record the slot's non-zero pages, runs of them coalesced, and fill the fallback shadow. */
static void dump_slot(struct slot *s, uint8_t *scratch) {
  uint64_t zero = 0, pages = (s->size + PAGE - 1) / PAGE;
  for (uint64_t off = 0; off < s->size; off += SCRATCH) {
    uint64_t n = s->size - off < SCRATCH ? s->size - off : SCRATCH;
    if (read_self(scratch, s->uaddr + off, n) != (int)n) {
      note("guest memory could not be read at registration");
      continue;
    }
    if (s->shadow) memcpy(s->shadow + off, scratch, n);
    uint64_t run = 0;
    for (uint64_t p = 0; p < n; p += PAGE) {
      if (all_zero(scratch + p, n - p < PAGE ? n - p : PAGE)) {
        zero++;
        if (p > run) emit(MEM_REGISTER, s->uaddr + off + run, scratch + run, p - run);
        run = p + PAGE;
      }
    }
    if (n > run) emit(MEM_REGISTER, s->uaddr + off + run, scratch + run, n - run);
  }
  char msg[200];
  snprintf(msg, sizeof msg,
           "memory slot %u at 0x%llx: %llu of %llu pages all zero, not recorded; writes tracked by %s",
           s->id, (unsigned long long)s->uaddr, (unsigned long long)zero, (unsigned long long)pages,
           s->wp ? mode_name() : "shadow compare");
  note(msg);
}

/* Called with s->live already 0: wait for a shadow comparison in progress before freeing. */
static void slot_release(struct slot *s) {
  if (s->wp) {
    struct uffdio_range r = {.start = s->uaddr, .len = s->size};
    real_ioctl(uffd, UFFDIO_UNREGISTER, &r);
  }
  while (atomic_flag_test_and_set(&s->busy)) sched_yield();
  if (s->shadow) real_munmap(s->shadow, s->size);
  if (s->scratch) real_munmap(s->scratch, SCRATCH);
  s->shadow = s->scratch = NULL;
  s->wp = 0;
  atomic_flag_clear(&s->busy);
}

static struct slot *slot_find(uint32_t id) {
  int top = atomic_load(&slots_top);
  for (int i = 0; i < top; i++)
    if (atomic_load(&slots[i].live) && slots[i].id == id) return &slots[i];
  return NULL;
}

void guestmem_slot_set(uint32_t id, uint64_t gpa, uint64_t size, uint64_t uaddr) {
  if (!mode_known) {
    mode = choose();
    mode_known = 1;
  }
  struct slot *s = slot_find(id);
  if (s) {
    atomic_store(&s->live, 0);
    slot_release(s);
  }
  if (!size) return;
  for (int i = 0; i < MAX_SLOTS && !s; i++)
    if (!atomic_load(&slots[i].live)) s = &slots[i];
  if (!s) {
    note("too many memory slots: guest memory of this slot is not recorded");
    return;
  }
  if (s - slots >= atomic_load(&slots_top)) atomic_store(&slots_top, (int)(s - slots) + 1);
  s->id = id;
  s->gpa = gpa;
  s->size = size;
  s->uaddr = uaddr;
  atomic_flag_clear(&s->busy);
  s->wp = wp_track(s);
  uint8_t *scratch = real_mmap64(NULL, SCRATCH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (scratch == MAP_FAILED) return;
  if (!s->wp) {
    s->shadow = real_mmap64(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s->shadow == MAP_FAILED) s->shadow = NULL;
  }
  dump_slot(s, scratch);
  if (s->shadow) s->scratch = scratch;
  else real_munmap(scratch, SCRATCH);
  atomic_store(&s->live, 1);
}

uint64_t guestmem_slot_size(uint32_t id) {
  struct slot *s = slot_find(id);
  return s ? s->size : 0;
}

/* Flushes between taking pages (off the queue, or out of a scan) and committing their records. */
static _Atomic int flushing;
static __thread int in_flush;
#define FLUSH_WAIT_LIMIT 100000 /* sched_yield()s: past that, order is given up rather than progress */

static void flush_now(void);

/* Before a KVM_RUN: record the pages written since the last one. Another vCPU thread may have just
 * taken some of them and not recorded them yet; this run's guest may already see those bytes, so
 * its entry waits until their records are committed (and numbered before it). Not from inside
 * this thread's own flush (a signal handler that runs a vCPU): the outer flush records them. */
void guestmem_flush_writes(void) {
  if (in_flush) return;
  in_flush = 1;
  atomic_fetch_add(&flushing, 1);
  flush_now();
  atomic_fetch_sub(&flushing, 1);
  in_flush = 0;
  for (int i = 0; atomic_load(&flushing) && i < FLUSH_WAIT_LIMIT; i++) sched_yield();
}

static void flush_now(void) {
  if (mode == TRACK_SYNC) sync_flush();
  uint64_t lo = UINT64_MAX, hi = 0;
  int top = atomic_load(&slots_top);
  for (int i = 0; i < top; i++) {
    struct slot *s = &slots[i];
    if (!atomic_load(&s->live)) continue;
    if (s->wp && mode == TRACK_ASYNC) {
      if (s->uaddr < lo) lo = s->uaddr;
      if (s->uaddr + s->size > hi) hi = s->uaddr + s->size;
    } else if (s->shadow) {
      shadow_flush(s);
    }
  }
  if (lo < hi) async_flush(lo, hi);
}

/* A forked child has no userfaultfd registrations, no fault thread and its own pagemap: it starts
 * with no slots and chooses its method again at its first registration. */
void guestmem_after_fork(void) {
  for (int i = 0; i < MAX_SLOTS; i++) { /* no other thread exists in the child: free everything */
    if (slots[i].dirty) real_munmap((void *)slots[i].dirty, (slots[i].dirty_pages + 63) / 64 * 8);
    if (slots[i].shadow) real_munmap(slots[i].shadow, slots[i].size);
    if (slots[i].scratch) real_munmap(slots[i].scratch, SCRATCH);
  }
  memset(slots, 0, sizeof slots);
  atomic_store(&slots_top, 0);
  atomic_store(&q_head, 0);
  atomic_store(&q_tail, 0);
  atomic_store(&q_overflow, 0);
  atomic_store(&flushing, 0); /* a flush the parent's other threads had in flight is not ours */
  nhot = 0;
  atomic_flag_clear(&hot_busy);
  memset(recent, 0, sizeof recent);
  if (uffd >= 0) real_close(uffd);
  if (pagemap_fd >= 0) real_close(pagemap_fd);
  uffd = pagemap_fd = -1;
  mode_known = 0;
  mode = TRACK_NONE;
}
