// What every benchmark returns, and the timing helpers they share.

export interface BenchRow {
  bench: string;
  what: string;
  value: number | string;
  unit: string;
  /** The side-by-side comparison measured in the same run. */
  ratio?: string;
}

/** Milliseconds a synchronous body takes. */
export function timeIt(body: () => void): number {
  const t0 = process.hrtime.bigint();
  body();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export async function timeItAsync(body: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await body();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Operations per second, rounded for printing. */
export function rate(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}
