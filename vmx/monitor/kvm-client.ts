// The monitor's side of the KVM ABI over the kvm-linux schema set: capabilities checked with
// KVM_CHECK_EXTENSION before the first use of an ioctl that needs one.

import type { IoctlSchema } from '../../schemas/model.js';
import { SchemaRegistry } from '../../schemas/registry.js';
import type { Driver } from '../driver.js';
import { CallError, SchemaClient } from './schema-client.js';

export type { Fields } from './schema-client.js';

/** The KVM API version every KVM since 2.6.22 reports. */
export const KVM_API_VERSION = 12;

/** A KVM call failed where the monitor cannot go on. */
export class KvmCallError extends CallError {}

export class KvmClient extends SchemaClient {
  /** CHECK_EXTENSION answers, by capability name. */
  private readonly capabilities = new Map<string, number>();

  /** Opens /dev/kvm and checks the API version. */
  static open(driver: Driver, registry = SchemaRegistry.default()): KvmClient {
    const fd = driver.open('/dev/kvm');
    if (fd < 0) throw new KvmCallError('open /dev/kvm', -fd);
    const client = new KvmClient(driver, registry.set('kvm-linux'), fd);
    const version = client.value(fd, 'KVM_GET_API_VERSION');
    if (version !== KVM_API_VERSION) throw new Error(`/dev/kvm speaks API version ${version}, not ${KVM_API_VERSION}`);
    return client;
  }

  /** The capability's CHECK_EXTENSION value; throws when KVM lacks it. */
  require(capability: string): number {
    let v = this.capabilities.get(capability);
    if (v === undefined) {
      v = this.value(this.system, 'KVM_CHECK_EXTENSION', this.constant(capability));
      this.capabilities.set(capability, v);
    }
    if (v <= 0) throw new Error(`KVM lacks ${capability}`);
    return v;
  }

  protected gate(schema: IoctlSchema): void {
    if (schema.capability) this.require(schema.capability);
  }

  protected failure(ioctl: string, errno: number): CallError {
    return new KvmCallError(ioctl, errno);
  }
}
