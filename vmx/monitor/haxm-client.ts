// The monitor's side of the HAXM ABI, as QEMU's target/i386/hax speaks it: open /dev/HAX, check the
// API version and the capabilities (is the driver working, which features), then requests by name,
// arguments encoded and results decoded through the measured layouts of the haxm-linux schema set.
// A request gated by a capability flag is refused here when HAX_IOCTL_CAPABILITY did not report it.

import type { IoctlSchema } from '../../schemas/model.js';
import { SchemaRegistry } from '../../schemas/registry.js';
import type { Driver } from '../driver.js';
import { devicePattern, formatPath } from '../haxm/paths.js';
import { CallError, SchemaClient } from './schema-client.js';

export type { Fields } from './schema-client.js';

/** The API QEMU speaks and the oldest driver API it accepts (hax_cur_version, hax_min_version). */
export const MONITOR_API = { cur: 4, min: 4 } as const;

export const HAXM_LINUX = 'haxm-linux';

/** A HAXM call failed where the monitor cannot go on. */
export class HaxmCallError extends CallError {}

export class HaxmClient extends SchemaClient {
  /** hax_capabilityinfo.winfo: the feature flags of a working driver. */
  winfo = 0;

  /**
   * hax_mod_open, then the version (hax_version_support: the driver's API must reach the monitor's
   * minimum, the monitor's must reach the driver's compatible one), then the capabilities
   * (hax_get_capability: a driver that is not working says why in winfo). QEMU itself asks the
   * capabilities first; asking the version first is what ioctlgrind's protocol check expects.
   */
  static open(driver: Driver, registry = SchemaRegistry.default()): HaxmClient {
    const set = registry.set(HAXM_LINUX);
    const path = devicePattern(set, 'system');
    const fd = driver.open(path);
    if (fd < 0) throw new HaxmCallError(`open ${path}`, -fd);
    const client = new HaxmClient(driver, set, fd);
    const version = client.struct(fd, 'HAX_IOCTL_VERSION', {}).out;
    if (MONITOR_API.min > (version.cur_version as number)) throw new Error(`HAXM speaks API ${String(version.cur_version)}; the monitor needs ${MONITOR_API.min}`);
    if (MONITOR_API.cur < (version.compat_version as number)) throw new Error(`HAXM needs monitors of API ${String(version.compat_version)} or later; the monitor speaks ${MONITOR_API.cur}`);
    const cap = client.struct(fd, 'HAX_IOCTL_CAPABILITY', {}).out;
    if (((cap.wstatus as number) & client.constant('HAX_CAP_WORKSTATUS_MASK')) !== client.constant('HAX_CAP_STATUS_WORKING')) {
      const why = (cap.winfo as number) & client.constant('HAX_CAP_FAILREASON_VT') ? 'VT-x is not enabled' : 'NX is not enabled';
      throw new Error(`HAXM is not working: ${why}`);
    }
    client.winfo = cap.winfo as number;
    return client;
  }

  /** The device path of a VM or vCPU by its ids. */
  path(kind: 'vm' | 'vcpu', ...ids: number[]): string {
    return formatPath(devicePattern(this.set, kind), ids);
  }

  /** Opens a VM or vCPU by its path. */
  openObject(kind: 'vm' | 'vcpu', ...ids: number[]): number {
    const path = this.path(kind, ...ids);
    const fd = this.driver.open(path);
    if (fd < 0) throw new HaxmCallError(`open ${path}`, -fd);
    return fd;
  }

  /** Whether HAX_IOCTL_CAPABILITY reported the flag (`HAX_CAP_64BIT_RAMBLOCK`). */
  has(capability: string): boolean {
    return (this.winfo & this.constant(capability)) !== 0;
  }

  protected gate(schema: IoctlSchema): void {
    if (schema.capability && !this.has(schema.capability)) throw new Error(`HAXM lacks ${schema.capability}, which ${schema.name} needs`);
  }

  protected failure(ioctl: string, errno: number): CallError {
    return new HaxmCallError(ioctl, errno);
  }
}
