/* The rule table recorder/rules.ts generated from the schema registry, mapped read-only. It tells
 * the shim, per (request, object kind), how big the argument is, which way it flows, where its
 * variable tail and embedded pointers are and how to size what they point to. */
#define _GNU_SOURCE
#include "shim.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t *table;
static const struct rules_header *th;
static const struct rule *rules;
static const struct rule_ptr *ptrs;
static const struct rule_attr *attrs;
static const struct rule_path *paths;

/* Every offset and count is checked against the file size once, so lookups need no checks. */
static int in_bounds(uint32_t off, uint32_t n, uint32_t size, size_t file) {
  return (uint64_t)off + (uint64_t)n * size <= file;
}

int rules_load(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(struct rules_header)) {
    real_close(fd);
    return -1;
  }
  size_t size = (size_t)st.st_size;
  void *p = real_mmap64(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  real_close(fd);
  if (p == MAP_FAILED) return -1;
  const struct rules_header *h = p;
  if (memcmp(h->magic, RULES_MAGIC, 8) != 0 || h->version != RULES_VERSION ||
      !in_bounds(h->rules_off, h->nrules, sizeof(struct rule), size) ||
      !in_bounds(h->ptrs_off, h->nptrs, sizeof(struct rule_ptr), size) ||
      !in_bounds(h->attrs_off, h->nattrs, sizeof(struct rule_attr), size) ||
      !in_bounds(h->paths_off, h->npaths, sizeof(struct rule_path), size) ||
      !in_bounds(h->strs_off, h->strs_len, 1, size)) {
    real_munmap(p, size);
    return -1;
  }
  table = p;
  th = h;
  rules = (const struct rule *)(table + h->rules_off);
  ptrs = (const struct rule_ptr *)(table + h->ptrs_off);
  attrs = (const struct rule_attr *)(table + h->attrs_off);
  paths = (const struct rule_path *)(table + h->paths_off);
  for (uint32_t i = 0; i < h->nrules; i++)
    if ((uint32_t)rules[i].ptr_first + rules[i].ptr_count > h->nptrs) return table = NULL, -1;
  for (uint32_t i = 0; i < h->nptrs; i++)
    if ((uint64_t)ptrs[i].role + ptrs[i].rolelen > h->strs_len || ptrs[i].index_at > ptrs[i].rolelen)
      return table = NULL, -1;
  for (uint32_t i = 0; i < h->npaths; i++)
    if ((uint64_t)paths[i].str + paths[i].len > h->strs_len) return table = NULL, -1;
  return 0;
}

/* Binary search on (request, kind); a request the table has for no kind falls back to the entry
 * for the only kind it has, so ioctls on untracked fds still get their layout. */
const struct rule *rule_find(uint32_t request, uint8_t kind) {
  if (!table) return NULL;
  uint32_t lo = 0, hi = th->nrules;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (rules[mid].request < request || (rules[mid].request == request && rules[mid].kind < kind))
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < th->nrules && rules[lo].request == request && rules[lo].kind == kind) return &rules[lo];
  uint32_t first = lo;
  while (first > 0 && rules[first - 1].request == request) first--;
  uint32_t n = 0;
  const struct rule *only = NULL;
  for (uint32_t i = first; i < th->nrules && rules[i].request == request; i++, n++) only = &rules[i];
  return (n == 1 && kind == OBJ_NONE) ? only : NULL;
}

const struct rule_ptr *rule_ptrs(const struct rule *r) { return ptrs + r->ptr_first; }

const char *rule_str(uint32_t off) { return (const char *)table + th->strs_off + off; }

uint8_t rules_path_kind(const char *path) {
  if (!table) return OBJ_NONE;
  size_t n = strlen(path);
  for (uint32_t i = 0; i < th->npaths; i++)
    if (paths[i].len == n && memcmp(rule_str(paths[i].str), path, n) == 0) return paths[i].kind;
  return OBJ_NONE;
}

/* The most specific entry wins: an exact key beats a wildcard. */
const struct rule_attr *rule_attr_find(uint32_t device, uint32_t group, uint64_t attr) {
  if (!table) return NULL;
  const struct rule_attr *best = NULL;
  int best_score = -1;
  for (uint32_t i = 0; i < th->nattrs; i++) {
    const struct rule_attr *a = &attrs[i];
    if (a->device != ATTR_ANY && a->device != device) continue;
    if (a->group != ATTR_ANY && a->group != group) continue;
    if (a->attr != ATTR_ANY64 && a->attr != attr) continue;
    int score = (a->device != ATTR_ANY) * 4 + (a->group != ATTR_ANY) * 2 + (a->attr != ATTR_ANY64);
    if (score > best_score) best = a, best_score = score;
  }
  return best;
}
