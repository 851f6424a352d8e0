/** A segment register with its hidden descriptor cache, in the shape of KVM's kvm_segment. */
export class Segment {
  selector = 0;
  /** Base as a number; FS/GS bases in 64-bit mode are signed canonical values (exact below 2^53). */
  base = 0;
  limit = 0xffff;
  type = 0;
  present = 1;
  dpl = 0;
  db = 0;
  s = 1;
  l = 0;
  g = 0;
  avl = 0;
  unusable = 0;
}

/** Segment register indices, in x86 encoding order, then LDTR and TR. */
export const Seg = { ES: 0, CS: 1, SS: 2, DS: 3, FS: 4, GS: 5, LDTR: 6, TR: 7 } as const;
