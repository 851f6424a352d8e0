// `ioctlgrind decode` across families: every meaning a number has, and the object or system that
// picks one; the parts of a number no schema knows, per numbering; the registry's preferences.
import { describe, expect, it } from 'vitest';
import { SchemaRegistry } from '../schemas/registry.js';
import { cli } from './support/cli.js';

describe('ioctlgrind decode, HAXM, MSHV and Xen', () => {
  it('0x40002440: CAPABILITY on \\\\.\\HAX and NOTIFY_QEMU_VERSION on a VM (Windows)', () => {
    const r = cli(['decode', '0x40002440']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/0x40002440 has \d meanings; /);
    expect(r.stdout).toMatch(/HAX_IOCTL_CAPABILITY on system \(\\\\\.\\HAX\) \[Windows: haxm-windows/);
    expect(r.stdout).toMatch(/HAX_VM_IOCTL_NOTIFY_QEMU_VERSION on vm \(\\\\\.\\hax_vm%02d\) \[Windows: haxm-windows/);
    expect(r.stdout).toMatch(/CTL_CODE device type 0x4000 function 0x910 METHOD_BUFFERED FILE_ANY_ACCESS/);
    expect(r.stdout).toMatch(/buffers\s+in 0, out 16/);
    expect(r.stdout).toMatch(/buffers\s+in 8, out 0/);
  });

  it('0x4008B825: two MSHV requests on two devices', () => {
    const r = cli(['decode', '0x4008B825']);
    expect(r.stdout).toMatch(/0x4008b825 has 2 meanings; the object it is issued on picks one/);
    expect(r.stdout).toMatch(/MSHV_SET_POLL_FILE on vtl \[Linux: mshv-vtl\]/);
    expect(r.stdout).toMatch(/MSHV_SINT_PAUSE_MESSAGE_STREAM on sint \(\/dev\/mshv_sint\)/);
  });

  it('0xC0080020: HAX_IOCTL_VERSION on Linux and Darwin', () => {
    const r = cli(['decode', '0xC0080020']);
    expect(r.stdout).toMatch(/0xc0080020: HAX_IOCTL_VERSION on system \(\/dev\/HAX\) \(Linux, Darwin and NetBSD\)/);
    expect(r.stdout).toMatch(/sets\s+haxm-linux, haxm-darwin, haxm-netbsd, haxm-qemu-linux \(a monitor's copy\)/);
    expect(r.stdout).toMatch(/_IOWR type 0x0 nr 0x20 size 8 \(Linux _IOC\)/);
    expect(r.stdout).toMatch(/_IOWR type 0x0 nr 0x20 size 8 \(BSD _IOC\)/);
    expect(r.stdout).toMatch(/struct hax_module_version \(out, 8 bytes\)/);
  });

  it('a Darwin-only number names Darwin and NetBSD', () => {
    const r = cli(['decode', '0x40100023']);
    expect(r.stdout).toMatch(/HAX_IOCTL_CAPABILITY on system \(\/dev\/HAX\) \(Darwin and NetBSD\)/);
  });

  it('a Xen number says its bits give no direction', () => {
    const r = cli(['decode', '0x00105002']);
    expect(r.stdout).toMatch(/IOCTL_PRIVCMD_MMAP on system \(\/dev\/xen\/privcmd\)/);
    expect(r.stdout).toMatch(/_IOC_NONE with a size: the bits give no direction/);
    expect(r.stdout).toMatch(/pointer entry -> in/);
    expect(cli(['decode', '0x000c5002']).stdout).toMatch(/IOCTL_PRIVCMD_MMAP[\s\S]*abi\s+i386/);
  });

  it('decodes an unknown number per numbering where it makes sense', () => {
    const r = cli(['decode', '0x40002499']);
    expect(r.stdout).toMatch(/no schema matches/);
    expect(r.stdout).toMatch(/parts\s+_IOW type 0x24 nr 0x99 size 0 \(Linux _IOC\)/);
    expect(r.stdout).toMatch(/bsd\s+_IOR type 0x24 nr 0x99 size 0 \(BSD _IOC\)/);
    expect(r.stdout).toMatch(/windows\s+CTL_CODE device type 0x4000 function 0x926 .*device type 0x4000 belongs to haxm/);
    const mshv = cli(['decode', '0x4004b8ee']).stdout;
    expect(mshv).toMatch(/0xb8 belongs to mshv/);
    expect(mshv).not.toMatch(/windows /);
  });
});

describe('the registry with every family', () => {
  const registry = SchemaRegistry.default();

  it('indexes the Windows numbers, whose sizes come from the layouts', () => {
    const c = registry.candidates(0x40002400).filter((x) => x.set.id === 'haxm-windows');
    expect(c.map((x) => [x.ioctl.name, x.abi, x.ioctl.sizes.llp64])).toEqual([['HAX_IOCTL_VERSION', 'llp64', 8]]);
  });

  it('looks up by object, family and set', () => {
    expect(registry.lookup(0x40002440, 'system', 'llp64', 'haxm')!.name).toBe('HAX_IOCTL_CAPABILITY');
    expect(registry.lookup(0x40002440, 'vm', 'llp64', 'haxm')!.name).toBe('HAX_VM_IOCTL_NOTIFY_QEMU_VERSION');
    expect(registry.resolve(0xc0080020, 'system', 'lp64', 'haxm')!.set.id).toBe('haxm-linux');
    expect(registry.resolve(0xc0080020, 'system', 'lp64', 'haxm-darwin')!.set.id).toBe('haxm-darwin');
    expect(registry.lookup(0x80100023, 'system', 'lp64', 'haxm-darwin')).toBeUndefined();
    expect(registry.byIoctlName('HAX_IOCTL_VERSION')!.set.id).toBe('haxm-linux');
  });

  it('keeps KVM first for KVM objects and numbers', () => {
    expect(registry.lookup(0x8090ae81, 'vcpu', 'lp64')!.name).toBe('KVM_GET_REGS');
    expect(registry.lookup(0x8090ae81, 'vcpu', 'lp64', 'kvm')!.family).toBe('kvm');
    expect(registry.lookup(0xae80, 'vcpu', 'lp64', 'kvm')!.name).toBe('KVM_RUN');
    expect(registry.sets[0].id === 'haxm-linux' || registry.sets[0].id === 'kvm-linux').toBe(true);
  });

  it('binds device paths to the driver\'s Linux set first', () => {
    const firstWith = (path: string) => registry.sets.find((s) => s.objects.some((o) => o.paths?.includes(path)))!.id;
    expect(firstWith('/dev/HAX')).toBe('haxm-linux');
    expect(firstWith('/dev/mshv')).toBe('mshv-root');
    expect(firstWith('/dev/kvm')).toBe('kvm-linux');
  });
});
