/*
 * ioctlgrind's own declarations of the mshv_vtl interface (the VTL2 paravisor's driver), from the
 * facts: /dev/mshv answers MSHV_CHECK_EXTENSION and creates VTL fds; /dev/mshv_sint and
 * /dev/mshv_hvcall are separate devices. Number 0x25 is used by the VTL fd and by /dev/mshv_sint with
 * argument structs of the same size, so 0x4008B825 means two things. Not a copy of the kernel header.
 */
#ifndef IOCTLGRIND_MSHV_VTL_H
#define IOCTLGRIND_MSHV_VTL_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define MSHV_IOCTL 0xB8

#define MSHV_CAP_CORE_API_STABLE 0x0
#define MSHV_CAP_REGISTER_PAGE 0x1
#define MSHV_CAP_VTL_RETURN_ACTION 0x2
#define MSHV_CAP_DR6_SHARED 0x3
#define MSHV_MAX_RUN_MSG_SIZE 256

/* One register and its value (the hypervisor's hv_register_assoc: 32 bytes). */
struct hv_register_assoc {
    __u32 name;
    __u32 reserved1;
    __u64 reserved2;
    __u64 value[2];
} __attribute__((packed));

struct mshv_vp_registers {
    __u32 count;
    __u32 reserved;
    __u64 regs_ptr;
};

struct mshv_vtl_set_eventfd {
    __s32 fd;
    __u32 flag;
};

struct mshv_vtl_signal_event {
    __u32 connection_id;
    __u32 flag;
};

struct mshv_vtl_sint_post_msg {
    __u64 message_type;
    __u32 connection_id;
    __u32 payload_size;
    __u64 payload_ptr;
};

struct mshv_vtl_ram_disposition {
    __u64 start_pfn;
    __u64 last_pfn;
};

struct mshv_vtl_set_poll_file {
    __u32 cpu;
    __u32 fd;
};

struct mshv_vtl_hvcall_setup {
    __u64 bitmap_array_size;
    __u64 allow_bitmap_ptr;
};

struct mshv_vtl_hvcall {
    __u64 control;
    __u64 input_size;
    __u64 input_ptr;
    __u64 status;
    __u64 output_size;
    __u64 output_ptr;
};

struct mshv_sint_mask {
    __u8 mask;
    __u8 reserved[7];
};

/* /dev/mshv */
#define MSHV_CHECK_EXTENSION _IOW(MSHV_IOCTL, 0x00, __u32)
#define MSHV_CREATE_VTL _IOR(MSHV_IOCTL, 0x1D, char)
/* VTL fd */
#define MSHV_ADD_VTL0_MEMORY _IOW(MSHV_IOCTL, 0x21, struct mshv_vtl_ram_disposition)
#define MSHV_SET_POLL_FILE _IOW(MSHV_IOCTL, 0x25, struct mshv_vtl_set_poll_file)
#define MSHV_RETURN_TO_LOWER_VTL _IO(MSHV_IOCTL, 0x27)
#define MSHV_GET_VP_REGISTERS _IOWR(MSHV_IOCTL, 0x05, struct mshv_vp_registers)
#define MSHV_SET_VP_REGISTERS _IOW(MSHV_IOCTL, 0x06, struct mshv_vp_registers)
/* /dev/mshv_sint */
#define MSHV_SINT_SIGNAL_EVENT _IOW(MSHV_IOCTL, 0x22, struct mshv_vtl_signal_event)
#define MSHV_SINT_POST_MESSAGE _IOW(MSHV_IOCTL, 0x23, struct mshv_vtl_sint_post_msg)
#define MSHV_SINT_SET_EVENTFD _IOW(MSHV_IOCTL, 0x24, struct mshv_vtl_set_eventfd)
#define MSHV_SINT_PAUSE_MESSAGE_STREAM _IOW(MSHV_IOCTL, 0x25, struct mshv_sint_mask)
/* /dev/mshv_hvcall */
#define MSHV_HVCALL_SETUP _IOW(MSHV_IOCTL, 0x1E, struct mshv_vtl_hvcall_setup)
#define MSHV_HVCALL _IOWR(MSHV_IOCTL, 0x1F, struct mshv_vtl_hvcall)

#endif
