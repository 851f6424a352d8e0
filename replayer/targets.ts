// The drivers a trace can be replayed against.

import type { Driver } from '../vmx/driver.js';
import { HostDriver } from '../vmx/host/driver.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';

export type Target = 'emulator' | 'kvm';

export function makeDriver(target: Target): Driver {
  return target === 'kvm' ? new HostDriver() : new EmulatedKvm();
}
