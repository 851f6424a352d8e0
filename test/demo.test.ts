// `ioctlgrind demo`: the whole loop on the bundled sample, and the sample binary is its source.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dataPath } from '../schemas/paths.js';
import { assembleSource, describeWithNasm } from './support/guests.js';
import { cli } from './support/cli.js';

describeWithNasm('the demo guest', () => {
  it('is demo.asm assembled', () => {
    const source = readFileSync(dataPath('monitor/guests/demo.asm', 'vmx'), 'utf8');
    expect(Buffer.from(assembleSource(source))).toEqual(readFileSync(dataPath('monitor/guests/demo.bin', 'vmx')));
  });
});

describe('ioctlgrind demo', () => {
  it('records, checks and replays on the emulated core', () => {
    const r = cli(['demo', '--on', 'emulator']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/1\. record {2}on the emulated core: the guest wrote "hello from the demo guest\\n" and ended by exit-port with code 0/);
    expect(r.stdout).toMatch(/2\. check {3}\d+ events: 0 errors from 0 contexts/);
    expect(r.stdout).toMatch(/3\. replay {2}on the emulated core: \d+ of \d+ events re-driven, no divergence/);
  });

  it('records on /dev/kvm by default where it works, or says why not', () => {
    const r = cli(['demo']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/1\. record {2}on (\/dev\/kvm|the emulated core)/);
    if (/1\. record  on the emulated core/.test(r.stdout)) expect(r.stdout).toMatch(/\/dev\/kvm is not usable here/);
  });
});
