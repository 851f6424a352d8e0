// HAXM's device paths as the schema sets spell them: printf patterns with %02d for the VM and vCPU
// ids (`/dev/hax_vm%02d/vcpu%02d`), filled by the monitor and parsed by the driver.

const PLACEHOLDER = /%0?(\d*)d/g;

/** A path pattern filled with ids. */
export function formatPath(pattern: string, ids: number[]): string {
  let i = 0;
  return pattern.replace(PLACEHOLDER, (_, width: string) => String(ids[i++]).padStart(Number(width || 0), '0'));
}

/** The ids a path fills a pattern's placeholders with, or undefined when it does not match. */
export function parsePath(pattern: string, path: string): number[] | undefined {
  const source = pattern
    .split(PLACEHOLDER)
    .filter((_, i) => i % 2 === 0)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('(\\d+)');
  return new RegExp(`^${source}$`).exec(path)?.slice(1).map(Number);
}

/** The device path of an object kind in a set. */
export function devicePattern(set: { id: string; objects: { name: string; paths?: string[] }[] }, kind: string): string {
  const p = set.objects.find((o) => o.name === kind)?.paths?.[0];
  if (!p) throw new Error(`${set.id} has no device path for ${kind}`);
  return p;
}
