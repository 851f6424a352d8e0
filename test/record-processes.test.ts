// Processes and threads under the recorder: fork, exec, vfork and posix_spawn, vCPU threads, a
// target killed with SIGKILL, exit statuses (also through the command line) and errno untouched.

import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeExit } from '../schemas/codec.js';
import { SchemaRegistry } from '../schemas/registry.js';
import type { IoctlEvent, TraceEvent } from '../traces/events.js';
import { cli } from './support/cli.js';
import { buildMonitors, kvmSkipReason, recordCommand, tempDir } from './support/monitors.js';

const registry = SchemaRegistry.default();
const named = (trace: TraceEvent[], name: string) =>
  trace.filter((e): e is IoctlEvent => e.type === 'ioctl' && registry.lookup(e.request, undefined, 'lp64')?.name === name);

describe.skipIf(kvmSkipReason)(`processes and threads (${kvmSkipReason ?? 'real /dev/kvm'})`, () => {
  it('records a forked child and what it execs under the child pid', async () => {
    const m = buildMonitors();
    const rec = await recordCommand([m.kvmmon, '--fork', '--quiet', m.guests.real]);
    expect(rec.exit.status).toBe(0);
    const parent = rec.exit.pid;
    const fork = rec.trace.find((e) => e.type === 'fork')!;
    expect(fork).toMatchObject({ pid: parent });
    const child = (fork as { child: number }).child;
    const exec = rec.trace.find((e) => e.type === 'exec')!;
    expect(exec).toMatchObject({ pid: child, argv: ['kvmmon', '--child'] });
    const childIoctls = rec.trace.filter((e) => e.type === 'ioctl' && e.pid === child);
    // One KVM_GET_API_VERSION before exec, then the exec'd image's own.
    expect(childIoctls.filter((e) => e.seq < exec.seq).length).toBeGreaterThan(0);
    expect(named(rec.trace, 'KVM_CHECK_EXTENSION').filter((e) => e.pid === child && e.seq > exec.seq)).toHaveLength(1);
    expect(rec.trace.find((e) => e.type === 'exit' && e.pid === child)).toMatchObject({ status: 0 });
    expect(fork.seq).toBeLessThan(Math.min(...childIoctls.map((e) => e.seq)));
  });

  it('records a posix_spawned child, with a fork event from its parent', async () => {
    const m = buildMonitors();
    const rec = await recordCommand([m.kvmmon, '--spawn', '--quiet', m.guests.real]);
    expect(rec.exit.status).toBe(0);
    const child = rec.trace.find((e) => e.type === 'ioctl' && e.pid !== rec.exit.pid)!.pid;
    const fork = rec.trace.find((e) => e.type === 'fork')!;
    expect(fork).toMatchObject({ pid: rec.exit.pid, child });
    expect(fork.seq).toBeLessThan(Math.min(...rec.trace.filter((e) => e.pid === child).map((e) => e.seq)));
  });

  it('keeps a vforked child that fails to exec apart from its parent', async () => {
    // dash runs a simple command with vfork: the child shares the parent's memory and log.
    const rec = await recordCommand(['sh', '-c', '/nonexistent/ioctlgrind-x 2>/dev/null; exit 5']);
    expect(rec.exit.status).toBe(5);
    const root = rec.exit.pid;
    expect(rec.trace.filter((e) => e.type === 'exit' && e.pid === root)).toEqual([expect.objectContaining({ status: 5 })]);
    const exec = rec.trace.find((e) => e.type === 'exec')!;
    expect(exec.pid).not.toBe(root);
    expect(rec.trace.find((e) => e.type === 'fork')).toMatchObject({ pid: root, child: exec.pid });
    expect(rec.trace.find((e) => e.type === 'note' && e.message.startsWith(`process ${exec.pid}: execve /nonexistent/ioctlgrind-x failed`))).toBeDefined();
  });

  it('records each vCPU thread with its own tid', async () => {
    const m = buildMonitors();
    const rec = await recordCommand([m.kvmmon, '--vcpus', '3', '--mode', 'long', '--quiet', m.guests.long64]);
    expect(rec.exit.status).toBe(0);
    const runs = named(rec.trace, 'KVM_RUN');
    const tids = new Set(runs.map((e) => e.tid));
    expect(tids.size).toBe(3);
    const vcpuFds = new Set(runs.map((e) => e.fd));
    expect(vcpuFds.size).toBe(3);
    for (const e of runs) expect(e.regions.find((r) => r.role === 'run')?.after?.length).toBe(288);
  });

  it('loses nothing when vCPU threads fill one raw log together, across many chunks', async () => {
    const m = buildMonitors();
    // Every vCPU runs the exit loop: 20,000 port exits, then the exit-code IN and the exit OUT.
    const rec = await recordCommand([m.kvmmon, '--vcpus', '4', '--quiet', '--exits', '20000', m.guests.exits]);
    expect(rec.exit.status).toBe(0);
    const perThread = new Map<number, number>();
    for (const e of named(rec.trace, 'KVM_RUN')) perThread.set(e.tid, (perThread.get(e.tid) ?? 0) + 1);
    expect([...perThread.values()]).toEqual([20002, 20002, 20002, 20002]);
    expect(rec.trace.filter((e) => e.type === 'note' && !/pages all zero/.test(e.message))).toEqual([]);
  });

  it('records KVM_RUN interrupted by a signal as EINTR, exit reason KVM_EXIT_INTR', async () => {
    const m = buildMonitors();
    const rec = await recordCommand([m.kvmmon, '--kick', '--quiet', '--exits', '20000', m.guests.exits]);
    expect(rec.exit.status).toBe(0);
    const interrupted = named(rec.trace, 'KVM_RUN').filter((e) => e.ret === -1);
    expect(interrupted.length).toBeGreaterThan(0);
    const kvm = registry.set('kvm-linux');
    for (const e of interrupted) {
      expect(e.errno).toBe(4);
      expect(decodeExit(kvm, 'lp64', e.regions.find((r) => r.role === 'run')!.after!)?.reason).toBe('KVM_EXIT_INTR');
    }
  });

  it('keeps every complete event of a monitor killed with SIGKILL in the middle of its runs', async () => {
    const m = buildMonitors();
    const script = `${m.kvmmon} --quiet --exits 1000000000 ${m.guests.exits} & pid=$!; sleep 0.5; kill -9 $pid; wait $pid 2>/dev/null`;
    const rec = await recordCommand(['sh', '-c', script]);
    expect(rec.exit.status).toBe(137);
    const runs = named(rec.trace, 'KVM_RUN');
    expect(runs.length).toBeGreaterThan(100);
    for (const e of runs) {
      expect(e.ret).toBe(0);
      expect(e.regions.find((r) => r.role === 'run')?.after?.length).toBe(288);
    }
    const killed = runs[0].pid;
    expect(rec.trace.some((e) => e.type === 'exit' && e.pid === killed)).toBe(false);
  });

  it('exits with the target status, and 128 + signal when a signal killed it', async () => {
    const m = buildMonitors();
    expect((await recordCommand([m.kvmmon, '--quiet', '--exit-code', '42', m.guests.real])).exit.status).toBe(42);
    const killed = await recordCommand(['sh', '-c', 'kill -9 $$']);
    expect(killed.exit).toMatchObject({ status: 137, signal: 9 });
    expect(killed.trace.at(-1)).toMatchObject({ type: 'exit', status: 137, signal: 9 });
  });

  it('through the command line: the target status, and one line for a missing command', () => {
    const m = buildMonitors();
    const trace = join(tempDir('ioctlgrind-cli-'), 'out.trace');
    const ok = cli(['record', '-o', trace, '--', m.kvmmon, '--exit-code', '42', m.guests.real]);
    expect(ok.status).toBe(42);
    expect(ok.stdout).toMatch(/^hello\nAABCDZWK.\n$/); // the guest's output, passed through
    expect(statSync(trace).mode & 0o777).toBe(0o600);
    const missing = cli(['record', '-o', trace, '--', 'no-such-command-ioctlgrind']);
    expect(missing.status).toBe(127);
    expect(missing.stderr).toBe('ioctlgrind: command not found: no-such-command-ioctlgrind\n');
  });

  it("leaves errno as the target expects it and records the failing calls' errno", async () => {
    const m = buildMonitors();
    const rec = await recordCommand([m.kvmmon, '--check-errno', '--quiet', m.guests.real]);
    expect(rec.exit.status).toBe(0); // kvmmon exits 3 when errno is wrong
    const failing = rec.trace.filter((e): e is IoctlEvent => e.type === 'ioctl' && e.ret === -1);
    expect(failing.map((e) => e.errno)).toEqual(expect.arrayContaining([22, 9, 14]));
    const ok = named(rec.trace, 'KVM_GET_API_VERSION').filter((e) => e.ret === 12);
    for (const e of ok) expect(e.errno).toBe(0);
    // A bad pointer is a region with a problem, not a crash.
    const bad = named(rec.trace, 'KVM_GET_SUPPORTED_CPUID').find((e) => e.ret === -1)!;
    expect(bad).toMatchObject({ errno: 14, arg: 16 });
    expect(bad.regions[0]).toMatchObject({ role: 'arg', addr: 16, problem: 'memory not readable' });
    // A request no schema knows is captured by its _IOC direction and size.
    const unknown = rec.trace.find((e): e is IoctlEvent => e.type === 'ioctl' && e.request === 0xc010aefe)!;
    expect(unknown).toMatchObject({ ret: -1, errno: 22 });
    expect(unknown.regions).toHaveLength(1);
    expect(unknown.regions[0]).toMatchObject({ role: 'arg', length: 16, dir: 'inout' });
    expect(Buffer.from(unknown.regions[0].before!).readBigUInt64LE(0)).toBe(0x1122334455667788n);
  });
});
