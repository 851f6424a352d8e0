/* The kvm_run header (and exit union) as each vCPU's last recorded exit left it. Between two runs a
 * monitor usually leaves those 288 bytes alone, so a KVM_RUN entry whose page still holds them
 * refers to that exit record instead of copying them again; so does an exit that repeats the last
 * one (a guest polling a port or writing a serial line). Each is about a third of what an exit
 * costs to record. Lock-free: a memo busy in another thread (or in the signal handler this thread
 * interrupted) is simply not used, and the bytes are copied as usual. */
#define _GNU_SOURCE
#include "shim.h"

#include <string.h>

#define MAX_MEMOS 256

struct run_memo {
  _Atomic(const void *) run; /* the mapped kvm_run page this memo is for */
  atomic_flag busy;
  uint64_t exit_off; /* the exit record whose run region holds `bytes`; 0: none */
  uint8_t bytes[RUN_HEAD];
};

static struct run_memo memos[MAX_MEMOS];

struct run_memo *run_memo_for(const void *run) {
  for (int i = 0; i < MAX_MEMOS; i++) {
    const void *have = atomic_load(&memos[i].run);
    if (have == run) return &memos[i];
    if (!have) {
      const void *none = NULL;
      if (atomic_compare_exchange_strong(&memos[i].run, &none, run) || none == run) return &memos[i];
    }
  }
  return NULL;
}

uint64_t run_memo_match(struct run_memo *m, const void *run) {
  if (atomic_flag_test_and_set(&m->busy)) return 0;
  uint64_t off = m->exit_off && memcmp(run, m->bytes, RUN_HEAD) == 0 ? m->exit_off : 0;
  atomic_flag_clear(&m->busy);
  return off;
}

void run_memo_keep(struct run_memo *m, uint64_t exit_off, const void *bytes) {
  if (atomic_flag_test_and_set(&m->busy)) return;
  /* Two threads running one vCPU may write their exit records out of order: keep the later one,
   * which is the one ingest has read last when it meets a reference. */
  if (exit_off > m->exit_off) {
    memcpy(m->bytes, bytes, RUN_HEAD);
    m->exit_off = exit_off;
  }
  atomic_flag_clear(&m->busy);
}

/* A forked child writes a new log: offsets into the parent's mean nothing there. */
void run_memo_after_fork(void) { memset(memos, 0, sizeof memos); }
