/*
 * How a HAXM request number is built on each OS, so that the compiler folds every number:
 *  - Linux: the kernel's own <linux/ioctl.h> (_IOR 0x8..., _IOW 0x4..., _IO 0);
 *  - Darwin and NetBSD (IOCTLGRIND_BSD_IOCCOM): the BSD <sys/ioccom.h> encoding, declared here since
 *    no BSD header is installed: IOC_VOID 0x20000000, IOC_OUT 0x40000000, IOC_IN 0x80000000, a
 *    13-bit parameter length;
 *  - Windows (_WIN32, the mingw-w64 compiler): CTL_CODE from the SDK's <winioctl.h>.
 */
#ifndef IOCTLGRIND_HAXM_IOC_H
#define IOCTLGRIND_HAXM_IOC_H

#if defined(_WIN32)
#include <windef.h>
#include <winioctl.h>
#define HAX_DEVICE_TYPE 0x4000
#define HAX_WIN(fn) CTL_CODE(HAX_DEVICE_TYPE, (fn), METHOD_BUFFERED, FILE_ANY_ACCESS)
#elif defined(IOCTLGRIND_BSD_IOCCOM)
#define IOCPARM_MASK 0x1fff
#define IOC_VOID 0x20000000UL
#define IOC_OUT 0x40000000UL
#define IOC_IN 0x80000000UL
#define IOC_INOUT (IOC_IN | IOC_OUT)
#define _IOC(inout, group, num, len) \
    ((unsigned int)((inout) | (((len) & IOCPARM_MASK) << 16) | ((group) << 8) | (num)))
#define _IO(g, n) _IOC(IOC_VOID, (g), (n), 0)
#define _IOR(g, n, t) _IOC(IOC_OUT, (g), (n), sizeof(t))
#define _IOW(g, n, t) _IOC(IOC_IN, (g), (n), sizeof(t))
#define _IOWR(g, n, t) _IOC(IOC_INOUT, (g), (n), sizeof(t))
#else
#include <linux/ioctl.h>
#endif

#endif
