// The hax_tunnel page and the I/O buffer. The driver maps them into the process when it creates the
// vCPU (vcpu_create calls hax_vcpu_setup_hax_tunnel: kernel pages mapped into the caller inside the
// ioctl, no mmap call involved); SETUP_TUNNEL reports their addresses, as often as it is asked.
// Struct fields in them are read and written by field path through the measured layouts, each
// access logged at the address the process sees.

import type { Decoded } from '../../schemas/codec.js';
import { PAGE_SIZE } from '../driver.js';
import type { SharedPages } from '../kvm/objects.js';
import { PageFields } from '../kvm/page-fields.js';
import { writeArg, type HaxmCall, type Handler } from './call.js';
import type { Structs } from '../kvm/call.js';
import { IOBUF_OFFSET, TUNNEL_OFFSET, type VcpuObject } from './objects.js';

/** Fields of structs that live in the shared pages: hax_tunnel at its page, hax_fastmmio in the I/O buffer. */
export class SharedStructs {
  /** By struct. */
  private readonly fields = new Map<string, PageFields>();
  private readonly statuses: Map<string, number>;
  readonly tunnelType: string;

  constructor(readonly structs: Structs) {
    const page = structs.set.runPage;
    if (!page) throw new Error(`${structs.set.id} describes no run page`);
    this.tunnelType = page.type;
    this.statuses = new Map(page.exits.map((e) => [e.name, e.value]));
  }

  private of(struct: string): PageFields {
    let f = this.fields.get(struct);
    if (!f) this.fields.set(struct, (f = new PageFields(this.structs, struct)));
    return f;
  }

  offsetOf(struct: string, path: string): number {
    return this.of(struct).field(path).offset;
  }

  get(page: SharedPages, base: number, struct: string, path: string): Decoded {
    return this.of(struct).get(page, base, path);
  }

  put(page: SharedPages, base: number, struct: string, path: string, value: Decoded): void {
    this.of(struct).put(page, base, path, value);
  }

  /** A hax_tunnel field. */
  tunnel(page: SharedPages, path: string, value?: Decoded): Decoded {
    if (value === undefined) return this.get(page, TUNNEL_OFFSET, this.tunnelType, path);
    this.put(page, TUNNEL_OFFSET, this.tunnelType, path, value);
    return value;
  }

  /** Sets _exit_status by the exit's name (HAX_EXIT_IO). */
  status(page: SharedPages, name: string): void {
    const value = this.statuses.get(name);
    if (value === undefined) throw new Error(`no exit ${name}`);
    this.tunnel(page, this.structs.set.runPage!.reasonField, value);
  }
}

/** What hax_tunnel_info.size reports: the tunnel is a whole page. */
const TUNNEL_SIZE = PAGE_SIZE;

/** hax_vcpu_setup_hax_tunnel on a vCPU whose tunnel exists: the addresses and the tunnel's size. */
function setupTunnel(call: HaxmCall): number {
  const at = (call.object as VcpuObject).shared.mappedAt!;
  writeArg(call, { va: BigInt(at + TUNNEL_OFFSET), io_va: BigInt(at + IOBUF_OFFSET), size: TUNNEL_SIZE });
  return 0;
}

export const tunnelHandlers: Record<string, Handler> = { HAX_VCPU_IOCTL_SETUP_TUNNEL: setupTunnel };
