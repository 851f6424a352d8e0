// Deliberately faulty monitors, recorded on the real /dev/kvm (under memcheck where the fault is
// definedness), give exactly their planted findings; the clean one gives none.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkTrace } from '../checker/check.js';
import { dataPath } from '../schemas/paths.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { hasCc32, hasValgrind, kvmSkipReason, recordCommand, tempDir } from './support/monitors.js';

const skip = kvmSkipReason ?? (hasValgrind ? undefined : 'valgrind is not installed');

function build(flags: string[]): string {
  const out = join(tempDir('ioctlgrind-faulty-'), 'faulty');
  execFileSync('cc', [...flags, '-O0', '-g', '-Wall', '-o', out, dataPath('monitors/faulty.c', 'test')]);
  return out;
}

/** The findings of a recording, without the interface notes, as rule/name/object/field. */
async function findings(command: string[], memcheck: boolean): Promise<string[]> {
  const rec = await recordCommand(command, { memcheck });
  expect(rec.exit.status).toBe(0);
  return checkTrace(rec.path, SchemaRegistry.default())
    .contexts.filter((c) => c.first.severity !== 'note')
    .map((c) => `${c.first.rule} ${c.first.name} ${c.first.object} ${c.first.field ?? '-'}`);
}

describe.skipIf(skip !== undefined)(`faulty monitors${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const faulty = skip ? '' : build(['-m64']);

  it('an uninitialised field in KVM_SET_REGS', async () => {
    expect(await findings([faulty, 'regs'], true)).toEqual(['uninitialised KVM_SET_REGS vm0/vcpu0 rbx']);
  });

  it('an uninitialised payload behind KVM_SET_DEVICE_ATTR\'s addr', async () => {
    expect(await findings([faulty, 'attr'], true)).toEqual(['uninitialised KVM_SET_DEVICE_ATTR vm0/device0 addr']);
  });

  it('an uninitialised entry in KVM_SET_CPUID2', async () => {
    const [f, ...rest] = await findings([faulty, 'cpuid'], true);
    expect(rest).toEqual([]);
    expect(f).toMatch(/^uninitialised KVM_SET_CPUID2 vm0\/vcpu0 entries\[\d+\]$/);
  });

  it('a struct of the wrong size', async () => {
    expect(await findings([faulty, 'size'], false)).toEqual(['struct-size KVM_GET_REGS vm0/vcpu0 -']);
  });

  it.skipIf(!hasCc32)('a 32-bit build passing a struct laid out otherwise on x86_64', async () => {
    expect(await findings([build(['-m32']), 'abi'], false)).toEqual(['abi KVM_X86_SET_MSR_FILTER vm0 ranges']);
  });

  it('none for the clean monitor, under memcheck too', async () => {
    expect(await findings([faulty, 'clean'], true)).toEqual([]);
    expect(await findings([faulty, 'clean'], false)).toEqual([]);
  });
});
