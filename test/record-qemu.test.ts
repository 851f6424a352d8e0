// QEMU under `ioctlgrind record`: a tiny boot sector under -accel kvm. QEMU's output and exit status
// are unchanged, the trace holds every ioctl QEMU made, and every KVM request in it is decoded by name.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SchemaRegistry } from '../schemas/registry.js';
import { ObjectGraph } from '../traces/objects.js';
import { TraceReader } from '../traces/reader.js';
import type { IoctlEvent } from '../traces/events.js';
import { assembleSource, nasm } from './support/guests.js';
import { cli } from './support/cli.js';
import { kvmSkipReason } from './support/monitors.js';

const qemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
const skip = !qemu ? 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)' : kvmSkipReason ?? (nasm ? undefined : 'nasm is not installed');

/** A boot sector that prints a line on COM1 and leaves through isa-debug-exit with status 0x21. */
export const BOOT_SECTOR = `bits 16
org 0x7c00
        mov si, msg
        mov dx, 0x3f8
.next:  lodsb
        test al, al
        jz .done
        out dx, al
        jmp .next
.done:  mov al, 0x21
        out 0xf4, al
        hlt
msg:    db "boot sector ok", 13, 10, 0
        times 510-($-$$) db 0
        dw 0xaa55
`;

/** QEMU's command line: the boot sector on a floppy, COM1 on stdout, isa-debug-exit at 0xf4. */
export function qemuCommand(image: string): string[] {
  return ['qemu-system-x86_64', '-accel', 'kvm', '-nodefaults', '-nographic', '-no-reboot', '-m', '16', '-boot', 'a',
    '-drive', `file=${image},format=raw,if=floppy`, '-device', 'isa-debug-exit,iobase=0xf4,iosize=1', '-serial', 'stdio', '-monitor', 'none', '-display', 'none'];
}

export function bootImage(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'ioctlgrind-qemu-')), 'boot.img');
  writeFileSync(path, assembleSource(BOOT_SECTOR));
  return path;
}

describe.skipIf(skip !== undefined)(`QEMU under ioctlgrind record${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('leaves QEMU\'s output and exit status unchanged and decodes every KVM request by name', () => {
    const image = bootImage();
    const bare = spawnSync(qemuCommand(image)[0], qemuCommand(image).slice(1), { encoding: 'utf8', timeout: 120_000 });
    const trace = join(mkdtempSync(join(tmpdir(), 'ioctlgrind-qemu-')), 'qemu.trace');
    const r = cli(['record', '-o', trace, '--', ...qemuCommand(image)], { timeout: 180_000 });
    expect(r.status).toBe(bare.status);
    expect(bare.status).toBe((0x21 << 1) | 1);
    expect(r.stdout).toContain('boot sector ok');
    expect(r.stdout).toBe(bare.stdout);

    const registry = SchemaRegistry.default();
    const reader = TraceReader.open(trace);
    const graph = new ObjectGraph(registry, reader.header.abi);
    const unnamed = new Set<string>();
    let kvmIoctls = 0;
    let runs = 0;
    for (const e of reader) {
      const ctx = graph.apply(e);
      if (e.type !== 'ioctl' || ctx.object?.family !== 'kvm') continue;
      kvmIoctls++;
      if (ctx.schema?.run) runs++;
      if (!ctx.schema) unnamed.add(`0x${(e as IoctlEvent).request.toString(16)} on ${ctx.object.path}`);
    }
    expect(kvmIoctls).toBeGreaterThan(100);
    expect(runs).toBeGreaterThan(10);
    expect([...unnamed]).toEqual([]);
  }, 300_000);
});
