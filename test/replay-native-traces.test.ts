// Traces the LD_PRELOAD recorder made of the sample C monitor on real /dev/kvm, in every guest mode,
// with two vCPU threads, from 64- and 32-bit builds, replay on the emulated core with no divergence.
import { describe, expect, it } from 'vitest';
import { replayTrace } from '../replayer/engine.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';
import { buildMonitors, kvmSkipReason, recordCommand } from './support/monitors.js';

const MODES = [['real', 'real'], ['prot32', 'prot32'], ['long', 'long64']] as const;

describe.skipIf(kvmSkipReason !== undefined)(`replay of native traces${kvmSkipReason ? ` (skipped: ${kvmSkipReason})` : ''}`, () => {
  for (const [mode, guest] of MODES) {
    for (const bits of [64, 32] as const) {
      it(`replays kvmmon ${mode} with two vCPUs (${bits}-bit) on the emulated core`, async (ctx) => {
        const m = buildMonitors();
        const monitor = bits === 64 ? m.kvmmon : m.kvmmon32;
        if (!monitor) return ctx.skip();
        const rec = await recordCommand([monitor, '--quiet', '--mode', mode, '--vcpus', '2', m.guests[guest]]);
        expect(rec.exit.status).toBe(0);
        expect(rec.header.abi).toBe(bits === 64 ? 'lp64' : 'ilp32');
        const s = replayTrace(rec.path, SchemaRegistry.default(), new EmulatedKvm(), 'emulator');
        expect(s.divergence).toBeNull();
        expect(s.replayed).toBeGreaterThan(40);
      });
    }
  }
});
