// `ioctlgrind run` as a user runs it: output, exit status, recording with -o, and the one-line
// error for /dev/kvm that cannot be opened. The command module is driven from the built dist/ the
// way cli/main.ts drives it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { packageRoot } from '../schemas/paths.js';
import { TraceReader } from '../traces/reader.js';
import { kvmUnavailable } from '../vmx/host/driver.js';
import { assembleGuest, describeWithNasm } from './support/guests.js';

const root = packageRoot();
const dist = join(root, 'dist');
const noKvm = kvmUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'ioctlgrind-run-'));

/** cli/main.ts with only the run command, so the test does not depend on the command's registration. */
const MAIN = `
import yargs from 'yargs';
import { runCommand } from '${dist}/cli/commands/run.js';
import { reportFailure } from '${dist}/cli/user-error.js';
async function main() {
  await yargs(process.argv.slice(1)).scriptName('ioctlgrind').command(runCommand).demandCommand(1).strict()
    .fail((msg, err) => { if (err) throw err; process.stderr.write('ioctlgrind: ' + msg + '\\n'); process.exit(2); })
    .parseAsync();
}
main().catch((err) => { process.exitCode = reportFailure(err); });
`;

function run(args: string[], options: { uid?: number; gid?: number } = {}) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', MAIN, '--', 'run', ...args], { cwd: root, encoding: 'utf8', ...options });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function guest(name: string): string {
  const path = join(dir, `${name}.bin`);
  writeFileSync(path, assembleGuest(name));
  chmodSync(dir, 0o755);
  return path;
}

beforeAll(() => {
  // The command runs from dist/: build it (tsc emits even where other parts have type errors).
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'ignore' });
  if (!existsSync(join(dist, 'cli', 'commands', 'run.js'))) throw new Error('tsc did not build dist/cli/commands/run.js');
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeWithNasm('ioctlgrind run', () => {
  it('prints the guest\'s console output and exits with its exit code (emulated core by default)', () => {
    const r = run([guest('run-pm32'), '--mode', 'pm32']);
    expect(r.stdout).toBe('pm32 ok\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(5);
  });

  it.skipIf(noKvm !== undefined)(`does the same on /dev/kvm${noKvm ? ` (skipped: ${noKvm})` : ''}`, () => {
    const r = run([guest('run-long64'), '--mode', 'long64', '--on', 'kvm']);
    expect(r.stdout).toBe('long64 ok\n');
    expect(r.status).toBe(9);
  });

  it('says that HLT ended the run, and exits 0', () => {
    const r = run([guest('run-halt')]);
    expect(r.stdout).toBe('h');
    expect(r.stderr).toMatch(/^ioctlgrind: the guest halted at rip=0x1007 \(HLT ends the run\)\n$/);
    expect(r.status).toBe(0);
  });

  it('records the run in-process with -o', () => {
    const trace = join(dir, 'run.trace');
    const r = run([guest('run-real'), '-o', trace]);
    expect(r.status).toBe(3);
    const reader = TraceReader.open(trace);
    expect(reader.header.recorder).toBe('emulator');
    expect(reader.header.exact).toBe(true);
    const events = [...reader];
    expect(events.filter((e) => e.type === 'ioctl' && e.request === 0xae80)).toHaveLength(15);
    expect(events.at(-1)).toMatchObject({ type: 'exit', status: 3 });
  });

  it('refuses /dev/kvm it may not open in one line naming the device and the errno', () => {
    if (process.getuid?.() !== 0) return;
    const r = run([guest('run-real'), '--on', 'kvm'], { uid: 65534, gid: 65534 });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ioctlgrind: cannot open \/dev\/kvm: EACCES\n$/);
  });

  it('refuses a guest file it cannot read in one line', () => {
    const r = run([join(dir, 'missing.bin')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ioctlgrind: cannot read the guest .*missing\.bin: ENOENT\n$/);
  });
});
