/* ioctlgrind shim: shared declarations. The raw-log and rule-table formats below are mirrored by
 * recorder/rawlog.ts (reader) and recorder/rules.ts (writer); docs/recorder.md describes both. */
#ifndef IOCTLGRIND_SHIM_H
#define IOCTLGRIND_SHIM_H

#include <linux/kvm.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- raw log ------------------------------------------------------------------------------- */

#define RAW_MAGIC "IOGRAW02"
#define RAW_VERSION 2
#define RAW_CHUNK (4u << 20)        /* the log grows by mapping chunks of this size */
#define RAW_MAX_CHUNKS 4096         /* chunk index slots, and physical chunks a file may have (16 GiB) */
#define RAW_MAX_RECORD (1u << 20)   /* larger payloads are split (memory) or truncated (regions) */
#define RAW_FREE_SLOTS 64           /* chunks the reader has emptied, waiting to be written again */
#define RAW_HEADER_SIZE 20480       /* header and chunk index; records start after them */

/* Records are addressed by a logical offset (the cursor's space). Logical chunk L is described by
 * index slot L % RAW_MAX_CHUNKS: RAW_SLOT(lap of L, physical chunk) (0: none yet). Once the reader
 * (ingest, running beside the target) has read every record of a chunk, it zeroes the chunk,
 * empties its slot and hands the chunk back through the free ring, and the writer fills it again:
 * its pages are already allocated and mapped, so a long recording costs the target no page faults,
 * holds a few chunks of RAM and has no length limit. When the ring is empty the file grows instead:
 * the writer never waits for the reader (if the reader is a whole index behind, the slot a chunk
 * needs is still taken, and its records are dropped and counted). Physical chunk 0 holds this
 * header and is logical chunk 0; it is never handed back. */
struct raw_header {
  char magic[8];
  uint32_t version, header_size;
  uint32_t pid, ppid;
  uint32_t abi; /* 0 lp64, 1 ilp32 */
  uint32_t chunk_size;
  _Atomic uint64_t cursor; /* next free logical byte; records are reserved by fetch-add on it */
  uint64_t t0;             /* CLOCK_MONOTONIC ns when the log was created */
  uint32_t flags;          /* RAW_F_* */
  _Atomic uint32_t dropped;/* records lost because the log could not grow */
  _Atomic uint32_t nphys;  /* physical chunks allocated in the file */
  uint32_t pad;
  _Atomic uint32_t index[RAW_MAX_CHUNKS]; /* logical chunk L -> slot L % RAW_MAX_CHUNKS */
  _Atomic uint32_t free_head, free_tail; /* the free ring: the writer takes at head, the reader puts at tail */
  _Atomic uint32_t free_slot[RAW_FREE_SLOTS];
};
#define RAW_F_VALGRIND 1u
/* An index slot: the lap (L / RAW_MAX_CHUNKS, as 1..65535) says which logical chunk it is for. */
#define RAW_LAP(l) ((uint32_t)(((l) / RAW_MAX_CHUNKS) % 0xffff) + 1)
#define RAW_SLOT(lap, phys) (((uint32_t)(lap) << 16) | ((uint32_t)(phys) + 1))

enum rec_type {
  REC_OPEN = 1, REC_CLOSE, REC_DUP, REC_MMAP, REC_MUNMAP, REC_IOCTL_ENTER, REC_IOCTL_EXIT,
  REC_MEMORY, REC_FORK, REC_EXEC, REC_EXIT, REC_NOTE, REC_PAD,
};

/* Every record starts with this. `len` is stored first, `type` last with a release store:
 * type 0 means reserved but never committed (the writer died); the reader skips it by len. */
struct rec {
  uint32_t len;
  _Atomic uint16_t type;
  uint16_t flags;
  uint64_t seq;
  uint32_t tid, aux;
  uint64_t time; /* CLOCK_MONOTONIC ns */
};

struct rec_open { int32_t fd, flags, err; uint32_t pathlen; /* path bytes */ };
struct rec_close { int32_t fd, ret, err, pad; };
struct rec_dup { int32_t oldfd, newfd; };
struct rec_mmap { int32_t fd, prot, flags, pad; uint64_t addr, length, offset; };
struct rec_munmap { uint64_t addr, length; };
struct rec_ioctl_enter { int32_t fd; uint32_t request; uint64_t arg; uint32_t nregions, pad; };
struct rec_ioctl_exit { uint64_t enter_offset; int64_t ret; int32_t err; uint32_t nregions; };
struct rec_memory { uint32_t why, length; uint64_t addr; /* data */ };
enum { MEM_REGISTER = 1, MEM_WRITE = 2 };
struct rec_fork { int32_t child, pad; };
struct rec_exec { uint32_t pid, argc, bytes, pad; /* argv, each NUL-terminated */ };
struct rec_exit { int32_t status, pad; };
struct rec_note { uint32_t length, pad; /* message */ };

/* A region inside an ioctl record: header, role, data, then (flag REG_VBITS) one vbits byte per
 * data byte from memcheck, each part padded to 8 bytes. */
struct rec_region {
  uint32_t size;
  uint8_t dir; /* DIR_* */
  uint8_t flags;
  uint8_t rolelen;
  uint8_t problem; /* PROB_* */
  uint64_t addr;
  uint32_t length;  /* the region's length */
  uint32_t datalen; /* bytes captured (<= length) */
};
#define REG_DATA 1u
#define REG_VBITS 2u
#define REG_SAME 4u /* no data: the bytes are those of the KEPT region at this address in the exit
                     * record whose log offset (u64) stands in the data's place */
#define REG_KEPT 8u /* a later entry or exit may refer to this exit region's bytes (REG_SAME) */
enum { DIR_NONE = 0, DIR_IN = 1, DIR_OUT = 2, DIR_INOUT = 3 };
enum { PROB_NONE = 0, PROB_UNREADABLE, PROB_TRUNCATED, PROB_UNKNOWN_SIZE, PROB_BAD_COUNT };

/* ---- rule table ------------------------------------------------------------------------------ */

#define RULES_MAGIC "IOGRULE2"
#define RULES_VERSION 2
enum obj_kind { OBJ_NONE = 0, OBJ_SYSTEM, OBJ_VM, OBJ_VCPU, OBJ_DEVICE, OBJ_OTHER };

struct rules_header {
  char magic[8];
  uint32_t version, abi;
  uint32_t npaths, paths_off;
  uint32_t nrules, rules_off;
  uint32_t nptrs, ptrs_off;
  uint32_t nattrs, attrs_off;
  uint32_t strs_len, strs_off;
  uint32_t pad[2];
};
struct rule_path { uint32_t str, len; uint8_t kind, pad[7]; };
/* Sorted by (request, kind). */
struct rule {
  uint32_t request;
  uint8_t kind;     /* OBJ_* the request is issued on */
  uint8_t argkind;  /* ARG_* */
  uint8_t dir;      /* DIR_* of the argument */
  uint8_t flags;    /* RULE_* */
  uint32_t argsize;
  uint8_t retkind;  /* OBJ_* of a returned fd */
  uint8_t tail_dir;
  uint16_t ret_field;  /* offset of the fd field in the argument, or NO_FIELD: the return value */
  uint16_t ret_type;   /* offset of the u32 device type field, or NO_FIELD */
  uint16_t tail_count; /* offset of the tail's count field, or NO_FIELD */
  uint8_t tail_count_size, pad;
  uint16_t tail_elem;
  uint16_t tail_off;
  uint16_t ptr_first, ptr_count;
  uint16_t tail_max;
};
#define NO_FIELD 0xffffu
enum { ARG_NONE = 0, ARG_VALUE, ARG_POINTER };
#define RULE_RUN 1u
#define RULE_RET_FD 2u

/* A pointer field, or with count > 0 the same field in each element of a fixed-length array
 * (kvm_msr_filter.ranges[].bitmap): element i's pointer is at field + i * stride, its role is the
 * role string with i written at index_at ("ranges[" "3" "].bitmap"), and with PTR_SIZE_IN_ELEM its
 * size field too is read at p_off + i * stride. Elements with a null pointer or size 0 are skipped. */
struct rule_ptr {
  uint16_t field;  /* offset of the pointer in the argument (element 0's for an array) */
  uint8_t width;   /* 4 or 8 */
  uint8_t dir;
  uint8_t size_kind; /* SZ_* */
  uint8_t fsize;     /* width of the field read by SZ_FIELD */
  uint16_t p_off;    /* SZ_FIELD: count field; SZ_ONE_REG: id; SZ_DIRTY_BITMAP: slot; SZ_DEVICE_ATTR: group */
  uint32_t p_const;  /* SZ_CONST: size; SZ_FIELD: scale in 1/1024ths */
  uint32_t p_add;    /* SZ_FIELD: add; SZ_DEVICE_ATTR: offset of the u64 attr field */
  uint32_t role;     /* string offset */
  uint16_t rolelen;
  uint16_t count;    /* 0: a single pointer; else the array's element count */
  uint16_t stride;   /* the array's element size */
  uint8_t flags;     /* PTR_* */
  uint8_t index_at;  /* where the element index goes in the role, <= rolelen */
  uint32_t pad;
};
#define PTR_SIZE_IN_ELEM 1u
/* SZ_FIELD scales by p_const/1024 (fixed point, rounded up); SZ_FIELD_BITS counts bits, in u64s. */
enum { SZ_CONST = 1, SZ_FIELD, SZ_DEVICE_ATTR, SZ_ONE_REG, SZ_DIRTY_BITMAP, SZ_CSTRING, SZ_FIELD_BITS };
#define SCALE_ONE 1024u

/* Device attributes: size and direction of the payload at kvm_device_attr.addr. */
struct rule_attr {
  uint32_t device; /* device type; ATTR_ANY; ATTR_SYSTEM/ATTR_VM/ATTR_VCPU for those fds */
  uint32_t group;  /* or ATTR_ANY */
  uint64_t attr;   /* or ATTR_ANY64 */
  uint32_t size;
  uint8_t dir, pad[3];
};
#define ATTR_ANY 0xffffffffu
#define ATTR_SYSTEM 0xfffffffeu
#define ATTR_VCPU 0xfffffffdu
#define ATTR_VM 0xfffffffcu
#define ATTR_ANY64 0xffffffffffffffffull


/* The formats are the same for the 64-bit and the 32-bit shim; the compiler checks it. */
_Static_assert(sizeof(struct raw_header) <= RAW_HEADER_SIZE, "raw header");
_Static_assert(offsetof(struct raw_header, cursor) == 32 && offsetof(struct raw_header, index) == 64, "raw header");
_Static_assert(offsetof(struct raw_header, free_head) == 64 + 4 * RAW_MAX_CHUNKS, "raw free ring");
_Static_assert(sizeof(struct rec) == 32, "record header");
_Static_assert(sizeof(struct rec_region) == 24, "region header");
_Static_assert(sizeof(struct rec_ioctl_enter) == 24 && sizeof(struct rec_ioctl_exit) == 24, "ioctl");
_Static_assert(sizeof(struct rec_mmap) == 40 && sizeof(struct rec_memory) == 16, "mmap, memory");
_Static_assert(sizeof(struct rules_header) == 64, "rules header");
_Static_assert(sizeof(struct rule) == 32 && sizeof(struct rule_ptr) == 32, "rule");
_Static_assert(sizeof(struct rule_attr) == 24 && sizeof(struct rule_path) == 16, "rule attr, path");

/* ---- shim internals -------------------------------------------------------------------------- */

/* Built with -fvisibility=hidden: only the interposed libc functions are exported. */
#define EXPORT __attribute__((visibility("default")))

extern int (*real_ioctl)(int, unsigned long, ...);
extern void *(*real_mmap64)(void *, size_t, int, int, int, off64_t);
extern int (*real_munmap)(void *, size_t);
extern int (*real_close)(int);

extern int shim_ready;       /* set once init succeeded */
extern pid_t shim_pid;

/* rawlog.c */
int rawlog_open(const char *dir, int abi);
void rawlog_after_fork(void);
void rawlog_set_flags(uint32_t flags);
void *rec_begin(uint32_t bodylen, uint64_t *offset);
void rec_commit(void *r, uint32_t type);
uint64_t next_seq(void);
uint64_t now_ns(void);
int is_shim_fd(int fd);
void note(const char *msg);

/* rules.c */
int rules_load(const char *path);
const struct rule *rule_find(uint32_t request, uint8_t kind);
const struct rule_ptr *rule_ptrs(const struct rule *r);
const char *rule_str(uint32_t off);
uint8_t rules_path_kind(const char *path);
const struct rule_attr *rule_attr_find(uint32_t device, uint32_t group, uint64_t attr);

/* fds.c: what object each fd reaches */
struct fdinfo { uint8_t kind; uint8_t pad[3]; uint32_t devtype; void *run; size_t runsize; };
struct fdinfo *fd_info(int fd);
void fd_set_kind(int fd, uint8_t kind, uint32_t devtype);
void fd_copy(int oldfd, int newfd);
void fd_forget(int fd);

/* guestmem.c */
void guestmem_slot_set(uint32_t slot, uint64_t gpa, uint64_t size, uint64_t uaddr);
uint64_t guestmem_slot_size(uint32_t slot);
void guestmem_flush_writes(void);
void guestmem_after_fork(void);
int guestmem_owns_fd(int fd);

/* The part of kvm_run recorded at each KVM_RUN: the header and the exit union. */
#define RUN_HEAD offsetof(struct kvm_run, kvm_valid_regs)

/* runmemo.c: each vCPU's last exit bytes (RUN_HEAD of them), so that an unchanged kvm_run is not
 * copied again */
struct run_memo;
struct run_memo *run_memo_for(const void *run);
uint64_t run_memo_match(struct run_memo *m, const void *run);
void run_memo_keep(struct run_memo *m, uint64_t exit_off, const void *bytes);
void run_memo_after_fork(void);

/* capture.c */
int read_self(void *dst, uint64_t addr, size_t len);
long record_ioctl(int fd, unsigned long request, void *arg, int saved_errno);
extern int shim_valgrind; /* running under valgrind: record definedness, mark outputs defined */
extern __thread uint32_t cached_tid;

#endif
