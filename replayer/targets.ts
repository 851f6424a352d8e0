// The drivers a trace can be replayed against: the emulated core behind the front-end of the
// trace's family, or the real /dev/kvm.

import type { SchemaRegistry } from '../schemas/registry.js';
import { TraceReader } from '../traces/reader.js';
import type { Driver } from '../vmx/driver.js';
import { EmulatedHaxm } from '../vmx/haxm/frontend.js';
import { HostDriver } from '../vmx/host/driver.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';

export type Target = 'emulator' | 'kvm';

export class TargetUnavailable extends Error {}

/** The family of the schema sets a trace was recorded with (`haxm-linux@1a2b...` is haxm). */
export function traceFamily(path: string, registry: SchemaRegistry): string {
  const reader = TraceReader.open(path);
  try {
    const ids = reader.header.schemaSets.map((s) => s.split('@')[0]);
    return ids.map((id) => registry.sets.find((s) => s.id === id)?.family).find((f) => f !== undefined) ?? 'kvm';
  } finally {
    reader.close();
  }
}

export function makeDriver(target: Target, family = 'kvm'): Driver {
  if (target === 'kvm') {
    if (family !== 'kvm') throw new TargetUnavailable(`a ${family} trace cannot be replayed on /dev/kvm: replay it on the emulated core (--against emulator)`);
    return new HostDriver();
  }
  if (family === 'haxm') return new EmulatedHaxm();
  if (family !== 'kvm') throw new TargetUnavailable(`the emulated core has no ${family} front-end`);
  return new EmulatedKvm();
}
