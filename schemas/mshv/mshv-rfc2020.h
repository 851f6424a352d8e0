/*
 * The first versioning scheme of the 2020 RFC of /dev/mshv, from the facts: MSHV_REQUEST_VERSION had
 * to come first on a new fd and locked it to one API version. Review replaced it with
 * MSHV_CHECK_EXTENSION at the same number (see mshv-vtl.h). Only the version handshake is declared:
 * the RFC's other requests are not part of ioctlgrind's facts.
 */
#ifndef IOCTLGRIND_MSHV_RFC2020_H
#define IOCTLGRIND_MSHV_RFC2020_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define MSHV_IOCTL 0xB8

#define MSHV_REQUEST_VERSION _IOW(MSHV_IOCTL, 0x00, __u32)

#endif
