// What the rules know about one ioctl: the event, its object and schema, and its planned regions,
// each computed once.

import type { Abi, IoctlSchema, SchemaSet } from '../schemas/model.js';
import { planRegions, type PlannedRegion } from '../schemas/regions.js';
import type { IoctlEvent, Region, TraceHeader } from '../traces/events.js';
import type { TraceObject } from '../traces/objects.js';
import { hex } from '../schemas/ioc.js';

export class IoctlFacts {
  private planned?: PlannedRegion[];

  constructor(
    readonly event: IoctlEvent,
    readonly header: TraceHeader,
    readonly object: TraceObject | undefined,
    readonly schema: IoctlSchema | undefined,
    /** The schema's set: the object's, or, on an object of unknown origin, the one defining the schema. */
    readonly set: SchemaSet | undefined,
  ) {}

  get abi(): Abi {
    return this.header.abi;
  }

  get name(): string {
    return this.schema?.name ?? hex(this.event.request >>> 0);
  }

  get objectPath(): string {
    return this.object?.path ?? `fd${this.event.fd}?`;
  }

  region(role: string): Region | undefined {
    return this.event.regions.find((r) => r.role === role);
  }

  /** The regions the schema says this call touches, sized from the argument's bytes before the call. */
  get plan(): PlannedRegion[] {
    if (this.planned) return this.planned;
    const set = this.set;
    if (!set || !this.schema) return (this.planned = []);
    const slots = this.object?.kind === 'vm' ? this.object.slots : this.object?.parent?.slots;
    this.planned = planRegions(set, this.abi, this.schema, this.event.arg, this.region('arg')?.before, {
      kind: this.object?.kind,
      deviceType: this.object?.deviceType,
      slotSize: (slot) => slots?.get(slot)?.memorySize,
    });
    return this.planned;
  }
}
