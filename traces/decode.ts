// What an ioctl event means, from the schema the object graph picked for it: its name, direction and
// size (cheap, for every event of an index), and its decoded payload (the fields before and after
// the call, the buffers behind embedded pointers, the exit of a run ioctl).

import type { Abi, IocDir } from '../schemas/model.js';
import { bsdDecode, iocDecode } from '../schemas/ioc.js';
import { decodeExit, decodeType, type DecodedExit } from '../schemas/codec.js';
import { resolveSubtable, type Fields } from '../schemas/regions.js';
import type { IoctlEvent } from './events.js';
import type { EventContext } from './objects.js';

export interface IoctlSummary {
  name: string | null;
  dir: IocDir | 'none';
  size: number;
}

export interface IoctlPayload {
  /** Fields before the call; buffers behind pointers as `<role>_payload`. Null without bytes. */
  in: Record<string, unknown> | null;
  out: Record<string, unknown> | null;
  /** The exit a run ioctl reported in its run page. */
  exit?: DecodedExit;
}

/** The role of the region holding the run page of a run ioctl. */
const RUN_ROLE = 'run';

/** Name, direction and size: from the schema where there is one, else from the number's bits. */
export function summarizeIoctl(event: IoctlEvent, context: EventContext, abi: Abi): IoctlSummary {
  const schema = context.schema;
  const numbering = context.object?.set?.numbering ?? 'linux';
  const bits = numbering === 'windows' ? undefined : numbering === 'bsd' ? bsdDecode(event.request) : iocDecode(event.request);
  return {
    name: schema?.name ?? null,
    dir: schema ? (schema.encoding.dir ?? 'none') : (bits?.dir ?? 'none'),
    size: schema?.sizes[abi] ?? bits?.size ?? 0,
  };
}

export function decodeIoctlPayload(event: IoctlEvent, context: EventContext, abi: Abi): IoctlPayload {
  const exit = runExit(event, context, abi);
  return {
    in: decodeSide(event, context, abi, 'before'),
    out: decodeSide(event, context, abi, 'after'),
    ...(exit ? { exit } : {}),
  };
}

/** The exit a run ioctl left in its run page (the `run` region's bytes after the call). */
export function runExit(event: IoctlEvent, context: EventContext, abi: Abi): DecodedExit | undefined {
  const set = context.object?.set;
  if (!context.schema?.run || !set) return undefined;
  const page = event.regions.find((r) => r.role === RUN_ROLE)?.after;
  return page && decodeExit(set, abi, page);
}

/**
 * The regions' bytes on one side of the call: the argument's fields at the top level, the buffer
 * behind each pointer as `<role>_payload` (decoded where the schema or its sub-table types it).
 */
function decodeSide(
  event: IoctlEvent,
  context: EventContext,
  abi: Abi,
  side: 'before' | 'after',
): Record<string, unknown> | null {
  const set = context.object?.set ?? undefined;
  const arg = context.schema?.arg;
  const regions = event.regions.filter((r) => r.role !== RUN_ROLE && r[side]);
  if (regions.length === 0) return null;
  const out: Record<string, unknown> = {};
  const argBytes = regions.find((r) => r.role === 'arg')?.[side];
  const fields = argBytes && set && arg?.kind === 'pointer' ? decodeType(set, abi, arg.type, argBytes) : undefined;
  if (isRecord(fields)) Object.assign(out, fields);
  else if (argBytes) out.arg = fields ?? argBytes;
  for (const region of regions) {
    const bytes = region[side];
    if (region.role === 'arg' || !bytes) continue;
    const rule = arg?.kind === 'pointer' ? arg.pointers?.find((p) => p.field === region.role) : undefined;
    const type =
      rule?.type ??
      (rule?.size.kind === 'subtable' && set && isRecord(fields)
        ? resolveSubtable(set.subtables[rule.size.table], fields as Fields, { kind: context.object?.kind, deviceType: context.object?.deviceType })?.type
        : undefined);
    out[`${region.role}_payload`] = (type && set && decodeType(set, abi, type, bytes)) ?? bytes;
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !(value instanceof Uint8Array) && !Array.isArray(value);
}
