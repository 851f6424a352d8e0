/** Bits of CR0, CR4 and EFER the CPU acts on. */
export const CR0 = { PE: 1, MP: 2, EM: 4, TS: 8, ET: 0x10, NE: 0x20, WP: 0x10000, AM: 0x40000, NW: 0x20000000, CD: 0x40000000, PG: 0x80000000 } as const;
export const CR4 = { TSD: 0x4, PSE: 0x10, PAE: 0x20, PGE: 0x80, OSFXSR: 0x200 } as const;
export const EFER = { SCE: 1, LME: 0x100, LMA: 0x400, NXE: 0x800 } as const;
