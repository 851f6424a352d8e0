// QEMU for the integration tests: a tiny boot sector on a floppy, COM1 on stdout, isa-debug-exit at
// port 0xf4 (the boot sector leaves through it with 0x21, so QEMU exits (0x21 << 1) | 1 = 67).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembleSource, nasm } from './guests.js';
import { kvmSkipReason } from './monitors.js';

const qemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;

/** Why the QEMU tests cannot run here, or undefined. */
export const qemuSkipReason = !qemu ? 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)' : kvmSkipReason ?? (nasm ? undefined : 'nasm is not installed');

/** QEMU's exit status when the boot sector ran to its end. */
export const QEMU_BOOT_STATUS = (0x21 << 1) | 1;

const BOOT_SECTOR = `bits 16
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

/**
 * QEMU's command line. SeaBIOS's floppy boot itself fails now and then on a loaded machine (seen with
 * three bare QEMUs in parallel here): reboot-timeout=0 with -no-reboot makes such a boot end at once,
 * with status 0, instead of waiting for ever, so that a test can tell it apart and try again.
 */
export function qemuCommand(image: string): string[] {
  return ['qemu-system-x86_64', '-accel', 'kvm', '-nodefaults', '-nographic', '-no-reboot', '-m', '16', '-boot', 'order=a,reboot-timeout=0',
    '-drive', `file=${image},format=raw,if=floppy`, '-device', 'isa-debug-exit,iobase=0xf4,iosize=1', '-serial', 'stdio', '-monitor', 'none', '-display', 'none'];
}

/** Runs `run` until the boot sector ran to its end (status 67), three times at most. */
export function untilBooted<T extends { status: number | null }>(run: () => T): T {
  let r = run();
  for (let attempt = 1; attempt < 3 && r.status !== QEMU_BOOT_STATUS; attempt++) r = run();
  return r;
}

/** The boot sector as a floppy image in a fresh temp dir. */
export function bootImage(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'ioctlgrind-qemu-')), 'boot.img');
  writeFileSync(path, assembleSource(BOOT_SECTOR));
  return path;
}
