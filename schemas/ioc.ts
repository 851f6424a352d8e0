// The parts of a request number under each numbering scheme.

import type { IocDir, Numbering } from './model.js';

export interface IocParts {
  numbering: Numbering;
  dir: IocDir | 'none';
  type: number;
  nr: number;
  size: number;
}

const LINUX_DIRS: (IocDir | 'none')[] = ['_IO', '_IOW', '_IOR', '_IOWR'];

/** Linux asm-generic: nr 0-7, type 8-15, size 16-29, dir 30-31 (1 write, 2 read). */
export function iocDecode(request: number): IocParts {
  const r = request >>> 0;
  return { numbering: 'linux', dir: LINUX_DIRS[r >>> 30], nr: r & 0xff, type: (r >>> 8) & 0xff, size: (r >>> 16) & 0x3fff };
}

/** BSD (Darwin, NetBSD): IOC_VOID 0x20000000, IOC_OUT 0x40000000, IOC_IN 0x80000000, 13-bit size. */
export function bsdDecode(request: number): IocParts {
  const r = request >>> 0;
  const inout = (r & 0xe0000000) >>> 0;
  const dir: IocDir | 'none' = inout === 0xc0000000 ? '_IOWR' : inout === 0x80000000 ? '_IOW' : inout === 0x40000000 ? '_IOR' : inout === 0x20000000 ? '_IO' : 'none';
  return { numbering: 'bsd', dir, nr: r & 0xff, type: (r >>> 8) & 0xff, size: (r >>> 16) & 0x1fff };
}

/** Windows CTL_CODE: device type 16-31, access 14-15, function 2-13, method 0-1. */
export function ctlCodeDecode(request: number): { deviceType: number; access: number; function: number; method: number } {
  const r = request >>> 0;
  return { deviceType: r >>> 16, access: (r >>> 14) & 3, function: (r >>> 2) & 0xfff, method: r & 3 };
}

export function iocEncode(dir: IocDir, type: number, nr: number, size: number): number {
  const bits = { _IO: 0, _IOW: 1, _IOR: 2, _IOWR: 3 }[dir];
  return ((bits << 30) | ((size & 0x3fff) << 16) | ((type & 0xff) << 8) | (nr & 0xff)) >>> 0;
}

export function hex(n: number | bigint): string {
  return n < 0 ? '-0x' + (-n).toString(16) : '0x' + n.toString(16);
}
