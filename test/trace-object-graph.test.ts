import { describe, expect, it } from 'vitest';
import { SchemaRegistry } from '../schemas/registry.js';
import type { TraceEvent } from '../traces/events.js';
import { ObjectGraph } from '../traces/objects.js';
import { EventBuilder, GUEST_RAM_ADDR, KVM, kvmSampleEvents, RUN_ADDR } from './support/trace-fixtures.js';

function graphOf(events: TraceEvent[]): ObjectGraph {
  const graph = new ObjectGraph(SchemaRegistry.default(), 'lp64');
  for (const event of events) graph.apply(event);
  return graph;
}

/** The sample up to (not including) the first event matching `until`. */
function sampleUntil(until: (e: TraceEvent) => boolean): TraceEvent[] {
  const events = kvmSampleEvents();
  return events.slice(0, events.findIndex(until));
}

describe('object graph', () => {
  it('binds /dev/kvm to the system object and create ioctls to vm0 and vm0/vcpu0', () => {
    const graph = graphOf(sampleUntil((e) => e.type === 'dup'));
    expect(graph.objectFor(100, 3)).toMatchObject({ kind: 'system', path: 'kvm', family: 'kvm', devicePath: '/dev/kvm' });
    expect(graph.objectFor(100, 4)).toMatchObject({ kind: 'vm', path: 'vm0', family: 'kvm', createdSeq: 2 });
    const vcpu = graph.objectFor(100, 5);
    expect(vcpu).toMatchObject({ kind: 'vcpu', path: 'vm0/vcpu0', family: 'kvm' });
    expect(vcpu?.parent?.path).toBe('vm0');
  });

  it('reports the object an ioctl was issued on, its schema, and what it created', () => {
    const graph = new ObjectGraph(SchemaRegistry.default(), 'lp64');
    const [open, version, createVm] = kvmSampleEvents();
    expect(graph.apply(open).created?.path).toBe('kvm');
    expect(graph.apply(version)).toMatchObject({ object: { path: 'kvm' }, schema: { name: 'KVM_GET_API_VERSION' } });
    const context = graph.apply(createVm);
    expect(context.schema?.name).toBe('KVM_CREATE_VM');
    expect(context.created?.path).toBe('vm0');
  });

  it('shares the object between dup fds, and closes it when the last fd goes', () => {
    const events = kvmSampleEvents();
    const graph = new ObjectGraph(SchemaRegistry.default(), 'lp64');
    const vcpuClosed = events.findIndex((e) => e.type === 'close' && e.fd === 6);
    for (const event of events.slice(0, vcpuClosed)) graph.apply(event);
    // fd 5 was closed after the dup: fd 6 still reaches vcpu0, which is not closed yet.
    const vcpu0 = graph.objectFor(100, 6);
    expect(vcpu0?.path).toBe('vm0/vcpu0');
    expect(graph.objectFor(100, 5)).toBeUndefined();
    expect(vcpu0?.closedSeq).toBeNull();
    graph.apply(events[vcpuClosed]);
    expect(vcpu0?.closedSeq).toBe(events[vcpuClosed].seq);
  });

  it('binds a reused fd number to the new object', () => {
    const graph = graphOf(kvmSampleEvents());
    const vcpus = graph.objects.filter((o) => o.kind === 'vcpu');
    expect(vcpus.map((o) => o.path)).toEqual(['vm0/vcpu0', 'vm0/vcpu1']);
  });

  it('names a device by its KVM_CREATE_DEVICE type and binds the fd written into the argument', () => {
    const events = kvmSampleEvents();
    const graph = graphOf(events.slice(0, -1)); // before the process exits
    expect(graph.objectFor(100, 7)).toMatchObject({
      kind: 'device',
      path: 'vm0/device0',
      deviceType: 'vfio',
      deviceTypeValue: KVM.DEV_TYPE_VFIO,
    });
    expect(graph.objectFor(100, 5)?.path).toBe('vm0/vcpu1');
  });

  it('tracks the vCPU mapping (its run page) and the memory slots of the VM', () => {
    const graph = graphOf(sampleUntil((e) => e.type === 'dup'));
    const vcpu = graph.objectFor(100, 5);
    expect(graph.mappingAt(100, RUN_ADDR + 100)?.object).toBe(vcpu);
    expect(graph.mappingsOf(100, vcpu!)).toMatchObject([{ addr: RUN_ADDR, length: 3 * 4096, offset: 0 }]);
    const vm = graph.objectFor(100, 4);
    expect(vm?.slots.get(0)).toMatchObject({ slot: 0, guestPhysAddr: 0, memorySize: 4096, userspaceAddr: GUEST_RAM_ADDR });
  });

  it('splits a mapping on a partial munmap', () => {
    const b = new EventBuilder();
    b.add({ type: 'open', path: '/dev/kvm', flags: 2, fd: 3, errno: 0 });
    b.add({ type: 'mmap', fd: 3, addr: 0x10000, length: 0x3000, prot: 3, flags: 1, offset: 0 });
    b.add({ type: 'munmap', addr: 0x11000, length: 0x1000 });
    const graph = graphOf(b.events);
    expect(graph.mappingAt(100, 0x11000)).toBeUndefined();
    expect(graph.mappingAt(100, 0x12000)).toMatchObject({ addr: 0x12000, length: 0x1000, offset: 0x2000 });
    expect(graph.mappingAt(100, 0x10fff)).toMatchObject({ addr: 0x10000, length: 0x1000, offset: 0 });
  });

  it('gives a fork child a copy of the parent fd table, independent from then on', () => {
    const b = new EventBuilder();
    b.events.push(...sampleUntil((e) => e.type === 'dup'));
    b.add({ type: 'fork', child: 200 });
    const graph = graphOf(b.events);
    expect(graph.objectFor(200, 5)).toBe(graph.objectFor(100, 5));
    b.pid = b.tid = 200;
    graph.apply(b.add({ type: 'close', fd: 5, ret: 0, errno: 0 }));
    expect(graph.objectFor(200, 5)).toBeUndefined();
    expect(graph.objectFor(100, 5)?.path).toBe('vm0/vcpu0');
    expect(graph.objectFor(100, 5)?.closedSeq).toBeNull();
    b.pid = b.tid = 100;
    const exit = b.add({ type: 'exit', status: 0 });
    graph.apply(exit);
    expect(graph.objects.find((o) => o.path === 'vm0/vcpu0')?.closedSeq).toBe(exit.seq);
  });

  it('drops close-on-exec fds at exec, keeps the others', () => {
    const b = new EventBuilder();
    b.add({ type: 'open', path: '/dev/kvm', flags: 0x80002, fd: 3, errno: 0 });
    b.add({ type: 'open', path: '/dev/kvm', flags: 0x2, fd: 4, errno: 0 });
    b.add({ type: 'exec', argv: ['/bin/true'] });
    const graph = graphOf(b.events);
    expect(graph.objectFor(100, 3)).toBeUndefined();
    expect(graph.objectFor(100, 4)?.path).toBe('kvm');
  });

  it('makes an unknown object for an fd it never saw created, still naming unambiguous requests', () => {
    const b = new EventBuilder();
    b.ioctl(9, KVM.RUN);
    const graph = new ObjectGraph(SchemaRegistry.default(), 'lp64');
    const context = graph.apply(b.events[0]);
    expect(context.object).toMatchObject({ kind: 'unknown', path: 'fd9?', createdSeq: null });
    expect(context.object?.reason).toMatch(/fd 9 .* before the trace saw it opened/);
    expect(context.schema?.name).toBe('KVM_RUN');
    expect(graph.objectFor(100, 9)).toBe(context.object);
  });

  it('binds other files by their path, and ignores failed opens', () => {
    const b = new EventBuilder();
    b.add({ type: 'open', path: '/etc/hosts', flags: 0, fd: 3, errno: 0 });
    b.add({ type: 'open', path: '/dev/kvm', flags: 0, fd: -1, errno: 13 });
    const graph = graphOf(b.events);
    expect(graph.objectFor(100, 3)).toMatchObject({ kind: 'file', path: '/etc/hosts', family: null });
    expect(graph.objects).toHaveLength(1);
  });
});
