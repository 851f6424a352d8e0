/* The per-process raw log: a file mapped MAP_SHARED in chunks. Records are reserved with one
 * atomic fetch-add on the header's cursor, filled in place and committed by a release store of
 * their type. Committed records sit in the page cache, so they survive SIGKILL of the target, and
 * no writer ever waits on another thread or process. Writing a record is async-signal-safe (atomics,
 * memcpy, and fallocate and mmap when the log grows); creating the log is not, and happens only at
 * start-up and in a forked child. */
#define _GNU_SOURCE
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;
static struct raw_header *hdr;
static _Atomic(uint8_t *) physmap[RAW_MAX_CHUNKS]; /* physical chunk -> where this process maps it */
static _Atomic uint32_t spare;                    /* a physical chunk (+1) taken and not used */
static _Atomic uint64_t *seq_counter; /* shared by every process of the recording */
static const char *log_dir;
static int log_abi;

uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t next_seq(void) { return atomic_fetch_add(seq_counter, 1); }

int is_shim_fd(int fd) { return fd >= 0 && fd == log_fd; }

/* Move an fd the shim keeps out of the low numbers the target expects to get from open(). */
static int high_fd(int fd) {
  if (fd < 0) return fd;
  int h = fcntl(fd, F_DUPFD_CLOEXEC, 900);
  if (h < 0) return fd;
  real_close(fd);
  return h;
}

static uint8_t *map_phys(uint32_t p) {
  uint8_t *m = atomic_load_explicit(&physmap[p], memory_order_acquire);
  if (m) return m;
  /* MAP_POPULATE maps the whole chunk at once: on tmpfs that spares a page fault per 4 KiB. */
  m = real_mmap64(NULL, RAW_CHUNK, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, log_fd, (off64_t)p * RAW_CHUNK);
  if (m == MAP_FAILED) return NULL;
  uint8_t *expected = NULL;
  if (!atomic_compare_exchange_strong(&physmap[p], &expected, m)) {
    real_munmap(m, RAW_CHUNK);
    m = expected;
  }
  return m;
}

/* A physical chunk for a new logical one: the one this process set aside, else one the reader
 * emptied, else a new one at the end of the file. -1 when the file cannot grow. */
static int64_t take_phys(void) {
  uint32_t s = atomic_exchange(&spare, 0);
  if (s) return (int64_t)s - 1;
  for (;;) {
    uint32_t h = atomic_load(&hdr->free_head), t = atomic_load_explicit(&hdr->free_tail, memory_order_acquire);
    if (h == t) break;
    uint32_t p = atomic_load(&hdr->free_slot[h % RAW_FREE_SLOTS]);
    if (atomic_compare_exchange_weak(&hdr->free_head, &h, h + 1)) return p;
  }
  uint32_t p = atomic_fetch_add(&hdr->nphys, 1);
  /* fallocate never shrinks the file, so concurrent growers cannot undo each other. */
  if (p >= RAW_MAX_CHUNKS || fallocate64(log_fd, 0, (off64_t)p * RAW_CHUNK, RAW_CHUNK) != 0) return -1;
  return p;
}

/* Where logical chunk `l` is mapped; NULL when it has no physical chunk and cannot get one. */
static uint8_t *map_chunk(uint64_t l) {
  _Atomic uint32_t *slot = &hdr->index[l % RAW_MAX_CHUNKS];
  uint32_t lap = RAW_LAP(l);
  uint32_t e = atomic_load_explicit(slot, memory_order_acquire);
  if (!e) {
    int64_t p = take_phys();
    if (p < 0) return NULL;
    uint32_t none = 0;
    if (atomic_compare_exchange_strong(slot, &none, RAW_SLOT(lap, p))) {
      e = RAW_SLOT(lap, p);
    } else { /* another thread chose first: keep ours for next time (or lose 4 MiB of file) */
      uint32_t empty = 0;
      atomic_compare_exchange_strong(&spare, &empty, (uint32_t)p + 1);
      e = none;
    }
  }
  if (e >> 16 != lap) return NULL; /* the slot still describes a chunk of an earlier lap, unread */
  return map_phys((e & 0xffff) - 1);
}

static int map_seq_counter(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/seq", dir);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  void *p = real_mmap64(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  real_close(fd);
  if (p == MAP_FAILED) return -1;
  seq_counter = p;
  return 0;
}

static int create_log(void) {
  char path[4096];
  /* The sequence number makes the name unique even when a process execs (same pid, new log). */
  snprintf(path, sizeof path, "%s/raw-%d-%llu.log", log_dir, (int)shim_pid,
           (unsigned long long)next_seq());
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  log_fd = high_fd(fd);
  memset(physmap, 0, sizeof physmap);
  atomic_store(&spare, 0);
  if (fallocate64(log_fd, 0, 0, RAW_CHUNK) != 0) return -1;
  uint8_t *c0 = map_phys(0);
  if (!c0) return -1;
  hdr = (struct raw_header *)c0;
  memcpy(hdr->magic, RAW_MAGIC, 8);
  hdr->version = RAW_VERSION;
  hdr->header_size = RAW_HEADER_SIZE;
  hdr->pid = (uint32_t)shim_pid;
  hdr->ppid = (uint32_t)getppid();
  hdr->abi = (uint32_t)log_abi;
  hdr->chunk_size = RAW_CHUNK;
  hdr->t0 = now_ns();
  atomic_store(&hdr->nphys, 1);
  atomic_store(&hdr->index[0], RAW_SLOT(RAW_LAP(0), 0));
  atomic_store(&hdr->cursor, RAW_HEADER_SIZE);
  return 0;
}

int rawlog_open(const char *dir, int abi) {
  log_dir = dir;
  log_abi = abi;
  if (map_seq_counter(dir) != 0) return -1;
  return create_log();
}

void rawlog_set_flags(uint32_t flags) {
  if (hdr) hdr->flags |= flags;
}

/* In a forked child: leave the parent's log alone and start this process's own. */
void rawlog_after_fork(void) {
  for (uint32_t i = 0; i < RAW_MAX_CHUNKS; i++) {
    uint8_t *p = atomic_load(&physmap[i]);
    if (p) real_munmap(p, RAW_CHUNK);
  }
  real_close(log_fd);
  log_fd = -1;
  hdr = NULL;
  if (create_log() != 0) shim_ready = 0;
}

/* Reserve a record with `bodylen` bytes after the common header; returns NULL when the log cannot
 * grow. A record never straddles chunks: a reservation that would is padded out and retried. */
void *rec_begin(uint32_t bodylen, uint64_t *offset) {
  if (!hdr) return NULL;
  uint32_t len = (uint32_t)((sizeof(struct rec) + bodylen + 7) & ~7u);
  if (len > RAW_CHUNK / 2) return NULL;
  for (;;) {
    uint64_t off = atomic_fetch_add(&hdr->cursor, len);
    uint64_t end = off + len;
    uint64_t ci = off / RAW_CHUNK, ce = (end - 1) / RAW_CHUNK;
    uint8_t *c = map_chunk(ci);
    if (!c) {
      atomic_fetch_add(&hdr->dropped, 1);
      return NULL;
    }
    struct rec *r = (struct rec *)(c + off % RAW_CHUNK);
    if (ci == ce) {
      r->len = len;
      r->flags = 0;
      if (offset) *offset = off;
      return r;
    }
    /* Straddling: fill both pieces with committed padding and try again in the next chunk. */
    r->len = (uint32_t)(RAW_CHUNK - off % RAW_CHUNK);
    atomic_store_explicit(&r->type, REC_PAD, memory_order_release);
    uint8_t *n = map_chunk(ce);
    if (!n) {
      atomic_fetch_add(&hdr->dropped, 1);
      return NULL;
    }
    struct rec *tail = (struct rec *)n;
    tail->len = (uint32_t)(end % RAW_CHUNK);
    if (tail->len) atomic_store_explicit(&tail->type, REC_PAD, memory_order_release);
  }
}

/* Fill the common header and publish the record. */
void rec_commit(void *p, uint32_t type) {
  struct rec *r = p;
  if (!r->seq) r->seq = next_seq();
  if (!cached_tid) cached_tid = (uint32_t)syscall(SYS_gettid);
  r->tid = cached_tid;
  if (!r->time) r->time = now_ns();
  atomic_store_explicit(&r->type, (uint16_t)type, memory_order_release);
}

void note(const char *msg) {
  size_t n = strlen(msg);
  void *p = rec_begin((uint32_t)(sizeof(struct rec_note) + n), NULL);
  if (!p) return;
  struct rec_note *b = (struct rec_note *)((struct rec *)p + 1);
  b->length = (uint32_t)n;
  memcpy(b + 1, msg, n);
  rec_commit(p, REC_NOTE);
}
