/* Memcheck client requests. They are a few no-op instructions outside valgrind; without valgrind's
 * headers at build time they compile to nothing and --memcheck records no definedness. */
#ifndef IOCTLGRIND_MEMCHECK_REQUESTS_H
#define IOCTLGRIND_MEMCHECK_REQUESTS_H
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_GET_VBITS(a, v, n) 0
#define VALGRIND_MAKE_MEM_DEFINED(a, n) 0
#endif
#endif
