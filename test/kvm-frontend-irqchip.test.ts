// KVM's in-kernel devices and the vCPU state QEMU sets up, on the emulated front-end and on the real
// /dev/kvm: every scenario runs on both back-ends (a fresh VM each) and must give the same results,
// errnos and outputs. Then what only the emulated core can show exactly (ioeventfds, the PIT on the
// virtual clock waking a HLT, the coalesced ring, a host-timed replay clock).
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { Driver } from '../vmx/driver.js';
import { HostDriver, kvmUnavailable } from '../vmx/host/driver.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';
import { KvmClient, type Fields } from '../vmx/monitor/kvm-client.js';

const noKvm = kvmUnavailable();
const { EINVAL, EEXIST, ENOENT, ENXIO } = constants.errno;

interface Ctx {
  d: Driver;
  k: KvmClient;
  vm: number;
  /** 16 KiB of scratch for arguments. */
  buf: number;
  /** 64 KiB of guest RAM, page aligned. */
  ram: number;
}

function setup(d: Driver): Ctx {
  const k = KvmClient.open(d);
  const vm = k.value(k.system, 'KVM_CREATE_VM');
  return { d, k, vm, buf: d.memory.alloc(16384, 4096), ram: d.memory.alloc(0x10000, 4096) };
}

function call(c: Ctx, fd: number, name: string, fields: Fields | number): { ret: number; errno: number } {
  c.d.memory.write(c.buf, c.k.encodeArg(name, fields));
  // Straight to the driver: some requests here are gated on capabilities this host's KVM lacks (KVM_CAP_VAPIC).
  return c.d.ioctl(fd, c.k.schema(name).numbers.lp64!, c.buf);
}

/** The argument struct as the last call left it. */
const argOut = (c: Ctx, name: string): Fields => {
  const schema = c.k.schema(name);
  const type = schema.arg.kind === 'pointer' ? schema.arg.type : undefined;
  return c.k.decode(type!, c.d.memory.read(c.buf, 1024));
};

const vcpu = (c: Ctx) => c.k.value(c.vm, 'KVM_CREATE_VCPU', 0);
const enableCap = (c: Ctx, fd: number, cap: string, arg0: bigint, flags = 0) => call(c, fd, 'KVM_ENABLE_CAP', { cap: c.k.constant(cap), flags, args: [arg0, 0n, 0n, 0n] });
const irqLine = (c: Ctx, irq: number, level: number) => {
  const r = call(c, c.vm, 'KVM_IRQ_LINE_STATUS', { irq, level });
  return [r.ret, r.errno, r.ret === 0 ? (argOut(c, 'KVM_IRQ_LINE_STATUS').status as number) : undefined];
};

/** Real-mode `code` at 0x1000 in the RAM slot, registers set to run it; the kvm_run mapping. */
function withCode(c: Ctx, fd: number, code: number[]): number {
  call(c, c.vm, 'KVM_SET_USER_MEMORY_REGION', { slot: 0, flags: 0, guest_phys_addr: 0n, memory_size: 0x10000n, userspace_addr: BigInt(c.ram) });
  c.d.memory.write(c.ram + 0x1000, new Uint8Array(code));
  const s = c.k.struct(fd, 'KVM_GET_SREGS', {}).out;
  c.k.struct(fd, 'KVM_SET_SREGS', { ...s, cs: { ...(s.cs as Fields), base: 0n, selector: 0 } });
  c.k.struct(fd, 'KVM_SET_REGS', { rip: 0x1000n, rflags: 2n, rsp: 0x8000n });
  return c.d.mmap(fd, c.k.value(c.k.system, 'KVM_GET_VCPU_MMAP_SIZE'), 0);
}

/** Runs until the guest writes port 0xf4; the bytes it wrote there, and the exits it took on the way. */
function runToF4(c: Ctx, fd: number, run: number, maxExits = 20): { value: number; exits: string[] } {
  const exits: string[] = [];
  for (let i = 0; i < maxExits; i++) {
    const r = c.k.raw(fd, 'KVM_RUN');
    if (r.ret < 0) {
      exits.push(`errno ${r.errno}`);
      continue;
    }
    const exit = c.k.decode({ kind: 'struct', name: 'kvm_run' }, c.d.memory.read(run, 256));
    const io = exit.io as Fields;
    exits.push(`${String(exit.exit_reason)}:${(io.port as number).toString(16)}`);
    if (exit.exit_reason === c.k.constant('KVM_EXIT_IO') && io.port === 0xf4) return { value: c.d.memory.read(run + 4096, 1)[0], exits };
  }
  return { value: -1, exits };
}

const out = (al: number, port: number) => [0xb0, al, 0xe6, port];
const inb = (port: number) => [0xe4, port];
const F4 = [0xe6, 0xf4];
/** ICW1-4 for both 8259s (vectors 0x08 and 0x70), then OCW1 masks. */
const PIC_INIT = (master: number, slave: number) => [
  ...out(0x11, 0x20), ...out(0x11, 0xa0), ...out(0x08, 0x21), ...out(0x70, 0xa1),
  ...out(0x04, 0x21), ...out(0x02, 0xa1), ...out(0x01, 0x21), ...out(0x01, 0xa1),
  ...out(master, 0x21), ...out(slave, 0xa1),
];

const normalise = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x)));

const SCENARIOS: Record<string, (c: Ctx) => unknown> = {
  'KVM_ENABLE_CAP of what QEMU enables, with KVM\'s checks': (c) => [
    enableCap(c, c.vm, 'KVM_CAP_EXCEPTION_PAYLOAD', 1n),
    enableCap(c, c.vm, 'KVM_CAP_X86_TRIPLE_FAULT_EVENT', 1n),
    enableCap(c, c.vm, 'KVM_CAP_X86_USER_SPACE_MSR', 4n),
    enableCap(c, c.vm, 'KVM_CAP_X86_USER_SPACE_MSR', 8n),
    enableCap(c, c.vm, 'KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2', 3n),
    enableCap(c, c.vm, 'KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2', 4n),
    enableCap(c, c.vm, 'KVM_CAP_MAX_VCPU_ID', 1n),
    enableCap(c, c.vm, 'KVM_CAP_MAX_VCPU_ID', 1n),
    enableCap(c, c.vm, 'KVM_CAP_MAX_VCPU_ID', 2n),
    enableCap(c, c.vm, 'KVM_CAP_EXCEPTION_PAYLOAD', 1n, 1),
    c.k.raw(c.vm, 'KVM_CREATE_VCPU', 1),
  ],
  'KVM_CREATE_IRQCHIP twice, and after a vCPU exists': (c) => {
    const first = [c.k.raw(c.vm, 'KVM_CREATE_IRQCHIP'), c.k.raw(c.vm, 'KVM_CREATE_IRQCHIP')];
    const other = c.k.value(c.k.system, 'KVM_CREATE_VM');
    c.k.value(other, 'KVM_CREATE_VCPU', 0);
    return [first, c.k.raw(other, 'KVM_CREATE_IRQCHIP')];
  },
  'IRQ lines without an irqchip, then KVM_IRQ_LINE_STATUS through the default routing': (c) => {
    const before = irqLine(c, 4, 1);
    c.k.value(c.vm, 'KVM_CREATE_IRQCHIP');
    return [before, irqLine(c, 4, 0), irqLine(c, 4, 1), irqLine(c, 4, 1), irqLine(c, 4, 0), irqLine(c, 2, 1), irqLine(c, 9, 1), irqLine(c, 30, 1)];
  },
  'KVM_GET_IRQCHIP of a fresh 8259 pair and IOAPIC, and an unknown chip': (c) => {
    c.k.value(c.vm, 'KVM_CREATE_IRQCHIP');
    const chip = (id: number) => {
      const r = call(c, c.vm, 'KVM_GET_IRQCHIP', { chip_id: id });
      const o = argOut(c, 'KVM_GET_IRQCHIP').chip as Fields;
      return [r, id < 2 ? o.pic : id === 2 ? o.ioapic : undefined];
    };
    return [chip(0), chip(1), chip(2), chip(3)];
  },
  'KVM_SET_IRQCHIP then the IRQ line status follows the 8259 masks': (c) => {
    c.k.value(c.vm, 'KVM_CREATE_IRQCHIP');
    call(c, c.vm, 'KVM_GET_IRQCHIP', { chip_id: 0 });
    const pic = (argOut(c, 'KVM_GET_IRQCHIP').chip as Fields).pic as Fields;
    const set = call(c, c.vm, 'KVM_SET_IRQCHIP', { chip_id: 0, chip: { pic: { ...pic, imr: 0x10, irq_base: 0x08 } } });
    call(c, c.vm, 'KVM_GET_IRQCHIP', { chip_id: 0 });
    const back = ((argOut(c, 'KVM_GET_IRQCHIP').chip as Fields).pic as Fields);
    return [set, back.imr, back.irq_base, irqLine(c, 4, 0), irqLine(c, 3, 0)];
  },
  'KVM_SET_GSI_ROUTING: QEMU\'s table, a pin out of range, a GSI twice on one chip': (c) => {
    const none = call(c, c.vm, 'KVM_SET_GSI_ROUTING', { nr: 0, flags: 0, entries: [] });
    c.k.value(c.vm, 'KVM_CREATE_IRQCHIP');
    const route = (gsi: number, irqchip: number, pin: number) => ({ gsi, type: 1, flags: 0, u: { irqchip: { irqchip, pin } } });
    const qemu = [route(0, 0, 0), route(1, 0, 1), route(4, 0, 4), route(0, 2, 2), route(1, 2, 1), route(4, 2, 4)];
    return [
      none,
      call(c, c.vm, 'KVM_SET_GSI_ROUTING', { nr: qemu.length, flags: 0, entries: qemu }),
      irqLine(c, 2, 0),
      irqLine(c, 4, 0),
      call(c, c.vm, 'KVM_SET_GSI_ROUTING', { nr: 1, flags: 0, entries: [route(1, 0, 8)] }),
      call(c, c.vm, 'KVM_SET_GSI_ROUTING', { nr: 2, flags: 0, entries: [route(1, 0, 1), route(1, 1, 1)] }),
    ];
  },
  'KVM_CREATE_PIT2 without an 8259, twice; KVM_GET_PIT2 of a fresh PIT; KVM_SET_PIT2': (c) => {
    const early = call(c, c.vm, 'KVM_CREATE_PIT2', { flags: 0 });
    const get0 = call(c, c.vm, 'KVM_GET_PIT2', {});
    c.k.value(c.vm, 'KVM_CREATE_IRQCHIP');
    const created = [call(c, c.vm, 'KVM_CREATE_PIT2', { flags: 0 }), call(c, c.vm, 'KVM_CREATE_PIT2', { flags: 0 })];
    const strip = (s: Fields) => (s.channels as Fields[]).map(({ count_load_time: _t, ...rest }) => rest);
    call(c, c.vm, 'KVM_GET_PIT2', {});
    const fresh = argOut(c, 'KVM_GET_PIT2');
    const channels = (fresh.channels as Fields[]).map((ch) => ({ ...ch, mode: 3, count: 0x1234 }));
    const set = call(c, c.vm, 'KVM_SET_PIT2', { channels, flags: 0 });
    call(c, c.vm, 'KVM_GET_PIT2', {});
    return [early, get0, created, strip(fresh), set, strip(argOut(c, 'KVM_GET_PIT2'))];
  },
  'KVM_GET_LAPIC after reset, KVM_SET_LAPIC round trip, without an irqchip': (c) => {
    const fd0 = vcpu(c);
    const none = call(c, fd0, 'KVM_GET_LAPIC', {});
    const vm = c.k.value(c.k.system, 'KVM_CREATE_VM');
    c.k.value(vm, 'KVM_CREATE_IRQCHIP');
    const fd = c.k.value(vm, 'KVM_CREATE_VCPU', 0);
    call(c, fd, 'KVM_GET_LAPIC', {});
    const reset = c.d.memory.read(c.buf, 1024);
    const page = reset.slice();
    new DataView(page.buffer).setUint32(0x80, 0x20, true); // TPR
    new DataView(page.buffer).setUint32(0x350, 0x10700, true); // LVT0 masked ExtINT
    c.d.memory.write(c.buf, page);
    const set = c.k.raw(fd, 'KVM_SET_LAPIC', c.buf);
    c.d.memory.write(c.buf, new Uint8Array(1024));
    c.k.raw(fd, 'KVM_GET_LAPIC', c.buf);
    const back = new DataView(c.d.memory.read(c.buf, 1024).buffer);
    return [none, Buffer.from(reset).toString('hex'), set, back.getUint32(0x80, true), back.getUint32(0x350, true), back.getUint32(0x30, true)];
  },
  'KVM_GET/SET_VCPU_EVENTS: reset state, bad flags, an exception vector above 31, the interrupt number kept': (c) => {
    enableCap(c, c.vm, 'KVM_CAP_EXCEPTION_PAYLOAD', 1n);
    const fd = vcpu(c);
    call(c, fd, 'KVM_GET_VCPU_EVENTS', {});
    const fresh = argOut(c, 'KVM_GET_VCPU_EVENTS');
    const base = { ...fresh, exception: { injected: 0, nr: 255, has_error_code: 0, pending: 0, error_code: 0 }, interrupt: { injected: 0, nr: 255, soft: 0, shadow: 0 }, flags: 0x31 };
    const results = [
      call(c, fd, 'KVM_SET_VCPU_EVENTS', { ...base, flags: 0x80 }),
      call(c, fd, 'KVM_SET_VCPU_EVENTS', { ...base, exception: { injected: 1, nr: 40, has_error_code: 0, pending: 0, error_code: 0 } }),
      call(c, fd, 'KVM_SET_VCPU_EVENTS', base),
    ];
    call(c, fd, 'KVM_GET_VCPU_EVENTS', {});
    return [fresh, results, argOut(c, 'KVM_GET_VCPU_EVENTS')];
  },
  'KVM_SET_MP_STATE HALTED without an in-kernel APIC, and with one': (c) => {
    const fd = vcpu(c);
    const without = call(c, fd, 'KVM_SET_MP_STATE', { mp_state: 3 });
    const vm = c.k.value(c.k.system, 'KVM_CREATE_VM');
    c.k.value(vm, 'KVM_CREATE_IRQCHIP');
    const fd2 = c.k.value(vm, 'KVM_CREATE_VCPU', 0);
    const get0 = [call(c, fd2, 'KVM_GET_MP_STATE', {}), argOut(c, 'KVM_GET_MP_STATE')];
    const set = call(c, fd2, 'KVM_SET_MP_STATE', { mp_state: 3 });
    const interrupt = call(c, fd2, 'KVM_INTERRUPT', { irq: 0x20 });
    return [without, get0, set, call(c, fd2, 'KVM_GET_MP_STATE', {}), argOut(c, 'KVM_GET_MP_STATE'), interrupt];
  },
  'KVM_GET/SET_XCRS: reset XCR0, x87 off, a valid XCR0, too many entries': (c) => {
    const fd = vcpu(c);
    call(c, fd, 'KVM_GET_XCRS', {});
    const fresh = argOut(c, 'KVM_GET_XCRS');
    const xcr0 = (v: bigint, n = 1) => call(c, fd, 'KVM_SET_XCRS', { nr_xcrs: n, flags: 0, xcrs: [{ xcr: 0, reserved: 0, value: v }] });
    return [fresh.nr_xcrs, (fresh.xcrs as Fields[])[0], xcr0(0n), xcr0(1n), xcr0(3n), xcr0(1n, 17)];
  },
  'KVM_GET_SREGS2 after reset matches KVM_GET_SREGS; bad KVM_SET_SREGS2 flags': (c) => {
    const fd = vcpu(c);
    const s = c.k.struct(fd, 'KVM_GET_SREGS', {}).out;
    const s2 = c.k.struct(fd, 'KVM_GET_SREGS2', {}).out;
    const { interrupt_bitmap: _b, ...plain } = s;
    const { flags, pdptrs, ...plain2 } = s2;
    return [normalise(plain) === normalise(plain2), JSON.stringify(normalise(plain)) === JSON.stringify(normalise(plain2)), flags, pdptrs, call(c, fd, 'KVM_SET_SREGS2', { ...s2, flags: 2n }), call(c, fd, 'KVM_SET_SREGS2', s2)];
  },
  'KVM_X86_SETUP_MCE: no banks, too many, QEMU\'s; then MCG_CAP and MC0_CTL read back': (c) => {
    const fd = vcpu(c);
    const mce = (v: bigint) => call(c, fd, 'KVM_X86_SETUP_MCE', Number(v));
    const results = [mce(0n), mce(33n), mce(0x100010an), mce(0x800010an)];
    const got = c.k.struct(fd, 'KVM_GET_MSRS', { nmsrs: 3, entries: [{ index: 0x179, data: 0n }, { index: 0x400, data: 0n }, { index: 0x17b, data: 0n }] });
    return [results, got.ret, (got.out.entries as Fields[]).map((e) => e.data)];
  },
  'KVM_KVMCLOCK_CTRL before kvmclock; KVM_TPR_ACCESS_REPORTING off and with flags; KVM_SET_VAPIC_ADDR 0 without an APIC': (c) => {
    const fd = vcpu(c);
    return [c.k.raw(fd, 'KVM_KVMCLOCK_CTRL'), call(c, fd, 'KVM_TPR_ACCESS_REPORTING', { enabled: 0, flags: 0 }), call(c, fd, 'KVM_TPR_ACCESS_REPORTING', { enabled: 0, flags: 1 }), call(c, fd, 'KVM_SET_VAPIC_ADDR', { vapic_addr: 0n })];
  },
  'KVM_SET_IDENTITY_MAP_ADDR before and after a vCPU; KVM_SET_CLOCK with unknown flags': (c) => {
    const before = call(c, c.vm, 'KVM_SET_IDENTITY_MAP_ADDR', 0xfeffc000);
    vcpu(c);
    return [before, call(c, c.vm, 'KVM_SET_IDENTITY_MAP_ADDR', 0xfeffc000), call(c, c.vm, 'KVM_SET_CLOCK', { clock: 0n, flags: 1 }), call(c, c.vm, 'KVM_SET_CLOCK', { clock: 1000n, flags: 0 })];
  },
  'KVM_SIGNAL_MSI without an irqchip, to a disabled and an enabled APIC; KVM_SET_BOOT_CPU_ID; KVM_SET_GUEST_DEBUG off; KVM_IRQFD': (c) => {
    const msi = (data: number) => call(c, c.vm, 'KVM_SIGNAL_MSI', { address_lo: 0xfee00000, address_hi: 0, data, flags: 0 });
    const early = [msi(0x30), c.d.ioctl(c.vm, c.k.schema('KVM_SET_BOOT_CPU_ID').numbers.lp64!, 0)];
    c.k.value(c.vm, 'KVM_CREATE_IRQCHIP');
    const fd = vcpu(c);
    const disabled = msi(0x30);
    c.k.raw(fd, 'KVM_GET_LAPIC', c.buf);
    const page = c.d.memory.read(c.buf, 1024);
    new DataView(page.buffer).setUint32(0xf0, 0x1ff, true);
    c.d.memory.write(c.buf, page);
    c.k.raw(fd, 'KVM_SET_LAPIC', c.buf);
    const enabled = msi(0x31);
    c.k.raw(fd, 'KVM_GET_LAPIC', c.buf);
    const irr = new DataView(c.d.memory.read(c.buf, 1024).buffer).getUint32(0x210, true);
    const debug = (control: number) => call(c, fd, 'KVM_SET_GUEST_DEBUG', { control, pad: 0 });
    const irqfd = (flags: number, efd: number) => call(c, c.vm, 'KVM_IRQFD', { fd: efd, gsi: 4, flags, resamplefd: 0 });
    return [early, disabled, enabled, irr, c.d.ioctl(c.vm, c.k.schema('KVM_SET_BOOT_CPU_ID').numbers.lp64!, 0), debug(0), irqfd(4, 1000), irqfd(0, 1000), irqfd(1, 1000), irqfd(0, c.vm)];
  },
  'KVM_GET_MSR_INDEX_LIST with no room: E2BIG and the count written back': (c) => {
    const r = call(c, c.k.system, 'KVM_GET_MSR_INDEX_LIST', { nmsrs: 0, indices: [] });
    return [r, (argOut(c, 'KVM_GET_MSR_INDEX_LIST').nmsrs as number) > 0];
  },
  'the guest programs the 8259s and reads IMR, IRR and ISR back through ports (no exits)': (c) => {
    c.k.value(c.vm, 'KVM_CREATE_IRQCHIP');
    const fd = vcpu(c);
    const run = withCode(c, fd, [...PIC_INIT(0xfb, 0xff), ...inb(0x21), 0x88, 0xc3, ...out(0x0b, 0x20), ...inb(0x20), 0x88, 0xc7, ...out(0x0a, 0x20), ...inb(0x20), ...F4, ...inb(0xa1), ...F4, 0x88, 0xd8, ...F4, 0x88, 0xf8, ...F4, 0xf4]);
    // mov bl,al (IMR) ; OCW3 read ISR -> bh ; OCW3 read IRR -> out; slave IMR -> out; bl -> out; bh -> out
    return [runToF4(c, fd, run), runToF4(c, fd, run), runToF4(c, fd, run), runToF4(c, fd, run)];
  },
  'the guest reads the PIT\'s status through the read-back command and the ELCR (no exits)': (c) => {
    c.k.value(c.vm, 'KVM_CREATE_IRQCHIP');
    c.k.value(c.vm, 'KVM_CREATE_PIT2', c.buf);
    const fd = vcpu(c);
    // Channel 0: LSB/MSB, mode 2, count 0x1234; read-back status of channel 0 (OUT masked off); the ELCR.
    const run = withCode(c, fd, [...out(0x34, 0x43), ...out(0x34, 0x40), ...out(0x12, 0x40), ...out(0xe2, 0x43), ...inb(0x40), 0x24, 0x7f, ...F4, ...out(0x0c, 0x4d1), 0xba, 0xd1, 0x04, 0xec, ...F4, 0xf4]);
    return [runToF4(c, fd, run), runToF4(c, fd, run)];
  },
  'the PIT wakes a HLT through IRQ0, the 8259 and LINT0, and the guest\'s handler runs': (c) => {
    c.k.value(c.vm, 'KVM_CREATE_IRQCHIP');
    c.d.memory.write(c.buf, new Uint8Array(64));
    c.k.raw(c.vm, 'KVM_CREATE_PIT2', c.buf);
    const fd = vcpu(c);
    // IVT[8] -> 0:0x1800: mov al,0x42; out 0xf4,al; (then spin). Main: PIC init (IRQ0 unmasked), PIT ch0 mode 2 count 1193 (1 ms), sti; hlt.
    const run = withCode(c, fd, [0xc7, 0x06, 0x20, 0x00, 0x00, 0x18, 0xc7, 0x06, 0x22, 0x00, 0x00, 0x00, ...PIC_INIT(0xfe, 0xff), ...out(0x34, 0x43), ...out(0xa9, 0x40), ...out(0x04, 0x40), 0xfb, 0xf4, 0xeb, 0xfd]);
    c.d.memory.write(c.ram + 0x1800, new Uint8Array([0xb0, 0x42, 0xe6, 0xf4, 0xeb, 0xfe]));
    return runToF4(c, fd, run);
  },
  'coalesced PIO: the guest\'s writes to the zone go to the ring, not to the monitor': (c) => {
    const fd = vcpu(c);
    const zone = (addr: bigint, size: number) => call(c, c.vm, 'KVM_REGISTER_COALESCED_MMIO', { addr, size, pio: 1 });
    const registered = [zone(0x70n, 1), call(c, c.vm, 'KVM_REGISTER_COALESCED_MMIO', { addr: 0x80n, size: 1, pio: 2 })];
    const run = withCode(c, fd, [...out(0x8f, 0x70), ...out(0x0f, 0x70), 0xe6, 0x71, ...F4, 0xf4]);
    const r = runToF4(c, fd, run);
    const ring = new DataView(c.d.memory.read(run + 2 * 4096, 64).buffer);
    const entries = Array.from({ length: ring.getUint32(4, true) }, (_, i) => [ring.getBigUint64(8 + 24 * i, true), ring.getUint32(16 + 24 * i, true), ring.getUint32(20 + 24 * i, true), ring.getUint8(24 + 24 * i)]);
    return [registered, r, ring.getUint32(0, true), entries];
  },
};

describe(`KVM's in-kernel devices on the front-end against /dev/kvm${noKvm ? ` (skipped: ${noKvm})` : ''}`, () => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it.skipIf(noKvm !== undefined)(name, () => {
      const kvm = normalise(scenario(setup(new HostDriver())));
      const emulated = normalise(scenario(setup(new EmulatedKvm())));
      expect(emulated).toEqual(kvm);
    });
  }
});

describe('KVM\'s in-kernel devices on the emulated core alone', () => {
  it('ioeventfds: KVM\'s checks, and a matching guest write signals instead of exiting', () => {
    const c = setup(new EmulatedKvm());
    const efd = (addr: bigint, len: number, flags: number, datamatch = 0n) => call(c, c.vm, 'KVM_IOEVENTFD', { datamatch, addr, len, fd: 10, flags });
    expect(efd(0x500n, 3, 2).errno).toBe(EINVAL);
    expect(efd(0x500n, 0, 3).errno).toBe(EINVAL);
    expect(efd(0x500n, 1, 3, 7n).ret).toBe(0);
    expect(efd(0x500n, 1, 3, 7n).errno).toBe(EEXIST);
    expect(efd(0x500n, 1, 7, 8n).errno).toBe(ENOENT);
    const fd = vcpu(c);
    // mov dx,0x500; mov al,7; out dx,al (matches: no exit); mov al,8; out dx,al (exits); hlt
    const run = withCode(c, fd, [0xba, 0x00, 0x05, 0xb0, 0x07, 0xee, 0xb0, 0x08, 0xee, 0xf4]);
    expect(c.k.raw(fd, 'KVM_RUN').ret).toBe(0);
    const exit = c.k.decode({ kind: 'struct', name: 'kvm_run' }, c.d.memory.read(run, 256));
    expect((exit.io as Fields).port).toBe(0x500);
    expect(c.d.memory.read(run + 4096, 1)[0]).toBe(8);
    expect(efd(0x500n, 1, 7, 7n).ret).toBe(0);
    expect(efd(0x500n, 1, 7, 7n).errno).toBe(ENOENT);
  });

  it('the errnos of in-kernel device requests on a VM without them', () => {
    const c = setup(new EmulatedKvm());
    expect(call(c, c.vm, 'KVM_GET_IRQCHIP', { chip_id: 0 }).errno).toBe(ENXIO);
    expect(call(c, c.vm, 'KVM_GET_PIT2', {}).errno).toBe(ENXIO);
    expect(call(c, c.vm, 'KVM_CREATE_PIT2', { flags: 0 }).errno).toBe(ENOENT);
  });

  it('refuses what the core cannot honour, with a reason: an injected exception, a pending NMI, SMM, TPR reporting', () => {
    const c = setup(new EmulatedKvm());
    const fd = vcpu(c);
    call(c, fd, 'KVM_GET_VCPU_EVENTS', {});
    const ev = argOut(c, 'KVM_GET_VCPU_EVENTS');
    expect(call(c, fd, 'KVM_SET_VCPU_EVENTS', { ...ev, exception: { injected: 1, nr: 13, has_error_code: 1, pending: 0, error_code: 0 } }).errno).toBe(EINVAL);
    expect(call(c, fd, 'KVM_SET_VCPU_EVENTS', { ...ev, flags: 1, nmi: { injected: 0, pending: 1, masked: 0, pad: 0 } }).errno).toBe(EINVAL);
    expect(call(c, fd, 'KVM_SET_VCPU_EVENTS', { ...ev, flags: 8, smi: { smm: 1, pending: 0, smm_inside_nmi: 0, latched_init: 0 } }).errno).toBe(EINVAL);
    expect(call(c, fd, 'KVM_TPR_ACCESS_REPORTING', { enabled: 1, flags: 0 }).errno).toBe(EINVAL);
    expect(call(c, fd, 'KVM_SET_GUEST_DEBUG', { control: 3, pad: 0 }).errno).toBe(EINVAL);
  });

  it('runs the PIT on the replay\'s host time: a tick due by the next KVM_RUN interrupts the guest there', () => {
    const c = setup(new EmulatedKvm());
    const kvm = c.d as EmulatedKvm;
    c.k.value(c.vm, 'KVM_CREATE_IRQCHIP');
    c.d.memory.write(c.buf, new Uint8Array(64));
    c.k.raw(c.vm, 'KVM_CREATE_PIT2', c.buf);
    const fd = vcpu(c);
    // Handler at 0x1800 writes 0x42 to 0xf4; main loop: PIC init, PIT ch0 mode 2 (55 ms), sti, then `out 0x80,al` forever.
    const run = withCode(c, fd, [0xc7, 0x06, 0x20, 0x00, 0x00, 0x18, 0xc7, 0x06, 0x22, 0x00, 0x00, 0x00, ...PIC_INIT(0xfe, 0xff), ...out(0x34, 0x43), ...out(0x00, 0x40), ...out(0x00, 0x40), 0xfb, 0xe6, 0x80, 0xeb, 0xfc]);
    c.d.memory.write(c.ram + 0x1800, new Uint8Array([0xb0, 0x42, 0xe6, 0xf4, 0xeb, 0xfe]));
    kvm.setHostTime(1_000_000n, 1_000_000n);
    const port = () => {
      expect(c.k.raw(fd, 'KVM_RUN').ret).toBe(0);
      return (c.k.decode({ kind: 'struct', name: 'kvm_run' }, c.d.memory.read(run, 256)).io as Fields).port;
    };
    expect(port()).toBe(0x80);
    expect(port()).toBe(0x80);
    // 60 ms of host time later the first tick is due: IRQ0 is injected at the next entry.
    kvm.setHostTime(61_000_000n, 61_000_000n);
    expect(port()).toBe(0xf4);
    expect(kvm.explainRun(fd)).toMatch(/PIT interrupt \(IRQ0, vector 0x8\).*injected vectors 0x8 and the PIT ticked 1 time/);
  });
});
