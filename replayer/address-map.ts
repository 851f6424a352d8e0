// Recorded user addresses and the addresses the replay gave the same memory: guest RAM, run pages.
// Memory the trace wrote before the replay knew where it lives waits here until it does.

interface Range {
  recorded: number;
  length: number;
  replay: number;
}

export class AddressMap {
  private readonly ranges: Range[] = [];
  private pending: { addr: number; data: Uint8Array }[] = [];

  add(recorded: number, length: number, replay: number): void {
    this.remove(recorded, length);
    this.ranges.push({ recorded, length, replay });
  }

  remove(recorded: number, length: number): void {
    for (let i = this.ranges.length - 1; i >= 0; i--) {
      const r = this.ranges[i];
      if (r.recorded < recorded + length && recorded < r.recorded + r.length) this.ranges.splice(i, 1);
    }
  }

  /** The replay address of a recorded one, when all `length` bytes are in one known range. */
  translate(recorded: number, length = 1): number | undefined {
    const r = this.ranges.find((x) => recorded >= x.recorded && recorded + length <= x.recorded + x.length);
    return r && r.replay + (recorded - r.recorded);
  }

  covers(recorded: number, length: number): boolean {
    return this.translate(recorded, length) !== undefined;
  }

  /** Keeps a write to memory the replay has not placed yet. */
  defer(addr: number, data: Uint8Array): void {
    this.pending.push({ addr, data });
  }

  /** The deferred writes that now have a place, in the order they were made. */
  takePlaced(): { addr: number; data: Uint8Array }[] {
    const placed = this.pending.filter((p) => this.covers(p.addr, p.data.length));
    this.pending = this.pending.filter((p) => !this.covers(p.addr, p.data.length));
    return placed;
  }

  get deferredBytes(): number {
    return this.pending.reduce((n, p) => n + p.data.length, 0);
  }
}
