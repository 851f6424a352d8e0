// What the bundled monitor can be asked for, apart from the monitor itself: the command line lists
// these choices without loading the CPU core.

export type GuestMode = 'real' | 'pm32' | 'long64';
export const GUEST_MODES: readonly GuestMode[] = ['real', 'pm32', 'long64'];

/** Where the bundled monitor runs a guest. */
export type Backend = 'emulator' | 'kvm';
export const BACKENDS: readonly Backend[] = ['emulator', 'kvm'];
