import type { CommandModule } from 'yargs';
import { UserError } from '../user-error.js';

/** Parses 0x-hex, decimal or a negative int as printed by a signed caller. */
export function parseRequest(text: string): number {
  const t = text.trim();
  const n = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t, 16) : /^-?\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isFinite(n) || n < -0x80000000 || n > 0xffffffff) throw new UserError(`'${text}' is not a request number (give 0x... or a decimal up to 32 bits)`);
  return n >>> 0;
}

export const decodeCommand: CommandModule<object, { request: string[] }> = {
  command: 'decode <request..>',
  describe: 'every schema entry a request number can mean',
  builder: (y) => y.positional('request', { type: 'string', array: true, demandOption: true }) as never,
  handler: async (argv) => {
    const [{ describeRequest }, { SchemaRegistry }] = await Promise.all([import('../../schemas/describe.js'), import('../../schemas/registry.js')]);
    const registry = SchemaRegistry.default();
    const out = argv.request.map((r) => describeRequest(registry, parseRequest(String(r))));
    process.stdout.write(out.join('\n\n') + '\n');
  },
};
