/*
 * kvmhost: the system calls a monitor makes on /dev/kvm, for Node through N-API. It holds no
 * policy: every call returns the raw result (-1 on failure) and errno() gives the errno of the
 * last failing call, so the TypeScript side reports exactly what the kernel said.
 *
 * Memory is real: mmap gives page-aligned memory (anonymous for fd < 0, else the fd's mapping,
 * such as a vCPU's kvm_run) and view() wraps it in an external ArrayBuffer without copying, so
 * the bytes JavaScript writes are the bytes KVM reads. The caller owns the lifetime: a view must
 * not be used after munmap.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int last_errno;

#define CHECK(call)                                                                   \
  do {                                                                                \
    if ((call) != napi_ok) {                                                          \
      napi_throw_error(env, NULL, "kvmhost: bad arguments to " __FILE__);             \
      return NULL;                                                                    \
    }                                                                                 \
  } while (0)

static napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

/* A number or a bigint argument as 64 bits (pointers and request numbers). */
static int get_u64(napi_env env, napi_value v, uint64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_uint64(env, v, out, &lossless) == napi_ok;
  }
  if (t == napi_number) {
    double d;
    if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
    *out = d < 0 ? (uint64_t)(int64_t)d : (uint64_t)d;
    return 1;
  }
  return 0;
}

static void args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
}

/* open(path): read-write, close-on-exec; the fd or -1. */
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  args(env, info, 1, argv);
  char path[4096];
  size_t len;
  CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) last_errno = errno;
  return number(env, fd);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  args(env, info, 1, argv);
  int32_t fd;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  int r = close(fd);
  if (r < 0) last_errno = errno;
  return number(env, r);
}

/* ioctl(fd, request, arg): arg is passed as the raw unsigned long the kernel receives. */
static napi_value js_ioctl(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  args(env, info, 3, argv);
  int32_t fd;
  uint64_t request, arg;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (!get_u64(env, argv[1], &request) || !get_u64(env, argv[2], &arg)) {
    napi_throw_type_error(env, NULL, "kvmhost.ioctl: request and arg must be numbers or bigints");
    return NULL;
  }
  int r = ioctl(fd, (unsigned long)(uint32_t)request, (unsigned long)arg);
  if (r < 0) last_errno = errno;
  return number(env, r);
}

/* mmap(fd, length, offset): shared read-write; anonymous private memory when fd < 0. */
static napi_value js_mmap(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  args(env, info, 3, argv);
  int32_t fd;
  int64_t length, offset;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_int64(env, argv[1], &length));
  CHECK(napi_get_value_int64(env, argv[2], &offset));
  void *p = fd < 0 ? mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                   : mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
  if (p == MAP_FAILED) {
    last_errno = errno;
    return number(env, -1);
  }
  return number(env, (double)(uintptr_t)p);
}

static napi_value js_munmap(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  args(env, info, 2, argv);
  uint64_t addr;
  int64_t length;
  if (!get_u64(env, argv[0], &addr)) {
    napi_throw_type_error(env, NULL, "kvmhost.munmap: bad address");
    return NULL;
  }
  CHECK(napi_get_value_int64(env, argv[1], &length));
  int r = munmap((void *)(uintptr_t)addr, (size_t)length);
  if (r < 0) last_errno = errno;
  return number(env, r);
}

/* view(addr, length): an ArrayBuffer over mapped memory, no copy, no finalizer. */
static napi_value js_view(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  args(env, info, 2, argv);
  uint64_t addr;
  int64_t length;
  if (!get_u64(env, argv[0], &addr)) {
    napi_throw_type_error(env, NULL, "kvmhost.view: bad address");
    return NULL;
  }
  CHECK(napi_get_value_int64(env, argv[1], &length));
  napi_value out;
  CHECK(napi_create_external_arraybuffer(env, (void *)(uintptr_t)addr, (size_t)length, NULL, NULL, &out));
  return out;
}

static napi_value js_errno(napi_env env, napi_callback_info info) {
  (void)info;
  return number(env, last_errno);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"ioctl", NULL, js_ioctl, NULL, NULL, NULL, napi_default, NULL},
      {"mmap", NULL, js_mmap, NULL, NULL, NULL, napi_default, NULL},
      {"munmap", NULL, js_munmap, NULL, NULL, NULL, napi_default, NULL},
      {"view", NULL, js_view, NULL, NULL, NULL, napi_default, NULL},
      {"errno", NULL, js_errno, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
