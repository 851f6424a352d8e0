/* `ioctlgrind record`'s launcher (build/ioctlgrind-record, run by bin/ioctlgrind). Node's start and
 * the command line take about 165 ms before record can start the target; this starts the target
 * under the shim within a few milliseconds, then starts Node to ingest beside it
 * (dist/cli/record-attached.js) and tells it through a pipe how the target ended. It exits with
 * Node's status, which is the target's, as soon as Node says it through a second pipe: the trace is
 * closed then, and Node's own teardown (about 10 ms) need not hold up the command.
 *
 * It handles only `record [-o TRACE | --output TRACE | --output=TRACE]... -- CMD ARGS...` when the
 * kept rule tables are there (recorder/rule-cache.ts) and IOCTLGRIND_SCHEMAS is not set; anything
 * else (another option, --memcheck, a missing command, no /dev/kvm, an output it cannot open) it
 * hands to Node unchanged, which records as before or says what is wrong. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PRELOAD_LP64 /* set by recorder/build-shim.mjs: the shim path relative to the package root */
#define PRELOAD_LP64 "build/x86_64/libioctlgrind.so"
#endif
#ifndef PRELOAD_ILP32
#define PRELOAD_ILP32 "build/i386/libioctlgrind.so"
#endif
#define SCHEMA_SET "kvm-linux"
/* Room for the package root (at most PATH_MAX) and a path below it. */
#define LONG_PATH (PATH_MAX + 64)

static char root[PATH_MAX], rule_cache[LONG_PATH];
static char **args;
static volatile pid_t target;

static void at_root(char *out, size_t size, const char *rel) { snprintf(out, size, "%s/%s", root, rel); }

static void exec_node(char **argv) {
  argv[0] = "node";
  execvp("node", argv);
}

/* Everything this launcher does not handle goes to Node's `record`, which records or says why not. */
static _Noreturn void to_node(void) {
  int n = 0;
  while (args[n]) n++;
  char **argv = calloc((size_t)n + 2, sizeof *argv), main_js[LONG_PATH];
  at_root(main_js, sizeof main_js, "dist/cli/main.js");
  argv[1] = main_js;
  for (int i = 1; i < n; i++) argv[i + 1] = args[i];
  exec_node(argv);
  fprintf(stderr, "ioctlgrind: cannot start node: %s\n", strerror(errno));
  exit(127);
}

static int executable_file(const char *path) {
  struct stat st;
  return access(path, X_OK) == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The executable `cmd` names, looked up in PATH as recorder/spawn.ts's resolveCommand does. */
static int resolve_command(const char *cmd, char *out, size_t size) {
  if (strchr(cmd, '/')) {
    snprintf(out, size, "%s", cmd);
    return executable_file(out);
  }
  const char *path = getenv("PATH");
  for (const char *p = path ? path : ""; *p;) {
    const char *end = strchrnul(p, ':');
    if (end > p && snprintf(out, size, "%.*s/%s", (int)(end - p), p, cmd) < (int)size && executable_file(out)) return 1;
    p = *end ? end + 1 : end;
  }
  return 0;
}

/* 1 for a 32-bit ELF executable; scripts and other files count as the host's class. */
static int elf32(const char *path) {
  unsigned char head[5] = {0};
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, head, sizeof head);
  close(fd);
  return n == 5 && memcmp(head, "\177ELF", 4) == 0 && head[4] == 1;
}

/* Opens the trace as traces/trace-file.ts does: an existing regular file is replaced (created
 * exclusively, following no link), anything else opened as it is. */
static int open_trace(const char *path) {
  struct stat st;
  int create = 1;
  if (lstat(path, &st) == 0) create = S_ISREG(st.st_mode) && unlink(path) == 0;
  else if (errno != ENOENT) create = 0;
  int fd = create ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)
                  : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) fchmod(fd, 0600);
  return fd;
}

/* The exit status Node writes once the trace is closed ("STATUS\n"), or -1 if it ended without
 * saying one (it was killed): then its wait status tells. */
static int status_said(int fd) {
  char text[16];
  size_t have = 0;
  while (have < sizeof text - 1) {
    ssize_t n = read(fd, text + have, sizeof text - 1 - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += (size_t)n;
    if (memchr(text, '\n', have)) break;
  }
  text[have] = 0;
  char *end;
  long status = strtol(text, &end, 10);
  return have && end != text && *end == '\n' && status >= 0 && status <= 255 ? (int)status : -1;
}

static int write_all(int fd, const void *buf, size_t len) {
  for (const char *p = buf; len > 0;) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Copies a kept rule table into the raw directory: the shim and Node's staleness check read that
 * copy, whatever another recording does to build/rules meanwhile. */
static int copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) return -1;
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), ok = out >= 0;
  char buf[65536];
  ssize_t n;
  while (ok && (n = read(in, buf, sizeof buf)) != 0) ok = n > 0 && write_all(out, buf, (size_t)n) == 0;
  close(in);
  if (out >= 0) close(out);
  return ok ? 0 : -1;
}

/* The raw directory as recorder/record.ts's prepareRawDir leaves it: the shared sequence counter
 * (a u64 starting at 1 in a page) and the rule tables. */
static int prepare_raw_dir(const char *dir) {
  char from[LONG_PATH], to[LONG_PATH];
  unsigned char seq[4096] = {1};
  snprintf(to, sizeof to, "%s/seq", dir);
  int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  int ok = write_all(fd, seq, sizeof seq) == 0;
  close(fd);
  for (const char *const *abi = (const char *const[]){"lp64", "ilp32", NULL}; ok && *abi; abi++) {
    ok = snprintf(from, sizeof from, "%s/%s.%s", rule_cache, SCHEMA_SET, *abi) < (int)sizeof from &&
         snprintf(to, sizeof to, "%s/rules.%s", dir, *abi) < (int)sizeof to && copy_file(from, to) == 0;
  }
  return ok ? 0 : -1;
}

/* The raw directory holds only files; Node removes it when it is done, this when Node could not. */
static void remove_raw_dir(const char *dir) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  DIR *d = fdopendir(dfd);
  for (struct dirent *e; d && (e = readdir(d));) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlinkat(dfd, e->d_name, 0);
  }
  if (d) closedir(d);
  else close(dfd);
  rmdir(dir);
}

static const char *raw_parent(void) {
  const char *env = getenv("IOCTLGRIND_RAWDIR");
  if (env && *env) return env;
  if (access("/dev/shm", W_OK) == 0) return "/dev/shm";
  const char *names[] = {"TMPDIR", "TMP", "TEMP"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    if ((env = getenv(names[i])) && *env) return env;
  }
  return "/tmp";
}

static void forward(int sig) {
  if (target > 0) kill(target, sig);
}

static uint64_t clock_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  args = argv;
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) {
    fprintf(stderr, "ioctlgrind: cannot find where this launcher is: %s\n", strerror(errno));
    return 127;
  }
  self[len] = 0;
  *strrchr(self, '/') = 0; /* build/ */
  *strrchr(self, '/') = 0; /* the package */
  snprintf(root, sizeof root, "%s", self);

  /* The one form handled here; yargs would read anything else differently, so Node takes it. */
  const char *output = "ioctlgrind.trace";
  int i = 2;
  if (argc < 2 || strcmp(argv[1], "record") != 0) to_node();
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc && argv[i + 1][0] != '-') output = argv[++i];
    else if (!strncmp(argv[i], "--output=", 9) && argv[i][9] != '-') output = argv[i] + 9;
    else to_node();
    if (!*output) to_node();
  }
  if (i + 1 >= argc) to_node();
  char **command = argv + i + 1;

  const char *schemas = getenv("IOCTLGRIND_SCHEMAS");
  if (schemas && *schemas) to_node();
  char exe[PATH_MAX], path[PATH_MAX + 64];
  if (!resolve_command(command[0], exe, sizeof exe)) to_node();
  int ilp32 = elf32(exe);
  at_root(path, sizeof path, ilp32 ? "build/i386/libioctlgrind.so" : "build/x86_64/libioctlgrind.so");
  if (access(path, R_OK) != 0) to_node();
  /* recorder/rule-cache.ts: kept tables are used only where they can be replaced */
  const char *cache = getenv("IOCTLGRIND_RULE_CACHE");
  if (cache && *cache) snprintf(rule_cache, sizeof rule_cache, "%s", cache);
  else at_root(rule_cache, sizeof rule_cache, "build/rules");
  if (access(rule_cache, W_OK) != 0) to_node();
  at_root(path, sizeof path, "build/kvmhost.node"); /* ingest maps the raw logs through it */
  if (access(path, R_OK) != 0) to_node();
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) to_node();
  close(kvm);

  int trace = open_trace(output);
  if (trace < 0) to_node();
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/ioctlgrind-raw-XXXXXX", raw_parent());
  if (!mkdtemp(dir)) to_node();
  if (prepare_raw_dir(dir) != 0) {
    remove_raw_dir(dir);
    to_node();
  }

  char preload[2 * PATH_MAX + 8], rules[PATH_MAX + 8];
  const char *inherited = getenv("LD_PRELOAD");
  int fits = snprintf(preload, sizeof preload, "%s/%s%s%s", root, ilp32 ? PRELOAD_ILP32 : PRELOAD_LP64, inherited && *inherited ? ":" : "",
                      inherited && *inherited ? inherited : "") < (int)sizeof preload;
  if (!fits) {
    remove_raw_dir(dir);
    to_node();
  }
  snprintf(rules, sizeof rules, "%s/rules", dir);
  uint64_t started_ms = clock_ns(CLOCK_REALTIME) / 1000000, t0 = clock_ns(CLOCK_MONOTONIC);

  /* The target first, with every signal disposition it would have had (Node's spawn resets them). */
  target = fork();
  if (target < 0) {
    remove_raw_dir(dir);
    to_node();
  }
  if (target == 0) {
    setenv("LD_PRELOAD", preload, 1);
    setenv("IOCTLGRIND_DIR", dir, 1);
    setenv("IOCTLGRIND_RULES", rules, 1);
    execv(exe, command);
    fprintf(stderr, "ioctlgrind: cannot start %s: %s\n", command[0], strerror(errno));
    _exit(127);
  }

  int ends[2] = {-1, -1}, said[2] = {-1, -1};
  pid_t node = pipe2(ends, O_CLOEXEC) == 0 && pipe2(said, O_CLOEXEC) == 0 ? fork() : -1;
  if (node == 0) {
    /* In a session of its own: the terminal's ^C and ^Z reach the target, not the trace's writer. */
    setsid();
    fcntl(ends[0], F_SETFD, 0);
    fcntl(said[1], F_SETFD, 0);
    fcntl(trace, F_SETFD, 0);
    char attach[PATH_MAX + 128], entry[LONG_PATH];
    snprintf(attach, sizeof attach, "%d,%d,%d,%d,%s,%llu,%llu,%s", (int)target, ends[0], said[1], trace, ilp32 ? "ilp32" : "lp64",
             (unsigned long long)t0, (unsigned long long)started_ms, dir);
    at_root(entry, sizeof entry, "dist/cli/record-attached.js");
    /* cli/record-attached.ts: ATTACH OUTPUT CMD ARGS... */
    char **nargv = calloc((size_t)argc + 5, sizeof *nargv), **a = nargv + 1;
    /* V8's parallel GC threads take the target's core on a small machine (measured in docs/recorder.md). */
    *a++ = "--single-threaded-gc";
    *a++ = entry;
    *a++ = attach;
    *a++ = (char *)output;
    for (char **c = command; *c; c++) *a++ = *c;
    exec_node(nargv);
  }
  if (node <= 0) fprintf(stderr, "ioctlgrind: cannot start node: %s; %s runs unrecorded\n", strerror(errno), command[0]);
  if (node == 0) _exit(127);
  close(trace);
  if (ends[0] >= 0) close(ends[0]);
  if (said[1] >= 0) close(said[1]);

  /* As Node's record did: the terminal's ^C is the target's to act on; a TERM is passed on to it. */
  struct sigaction ignore = {.sa_handler = SIG_IGN}, pass = {.sa_handler = forward};
  sigaction(SIGINT, &ignore, NULL);
  sigaction(SIGPIPE, &ignore, NULL);
  sigaction(SIGTERM, &pass, NULL);

  int node_status = -1;
  for (int live = node > 0 ? 2 : 1; live > 0;) {
    int st;
    pid_t p = waitpid(-1, &st, 0);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p == target) {
      char end[32];
      int n = snprintf(end, sizeof end, "%d %d\n", WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st), WIFSIGNALED(st) ? WTERMSIG(st) : 0);
      if (node > 0) {
        write_all(ends[1], end, (size_t)n);
        close(ends[1]);
      }
      target = 0;
      live--;
      int told = node > 0 && node_status < 0 ? status_said(said[0]) : -1;
      if (told >= 0) {
        remove_raw_dir(dir);
        return told;
      }
    } else if (p == node) {
      node_status = st;
      live--;
    }
  }
  remove_raw_dir(dir);
  if (node_status < 0) return 1;
  if (WIFSIGNALED(node_status)) {
    fprintf(stderr, "ioctlgrind: the trace's writer (node) was killed by signal %d; %s may be incomplete\n", WTERMSIG(node_status), output);
    return 128 + WTERMSIG(node_status);
  }
  return WEXITSTATUS(node_status);
}
