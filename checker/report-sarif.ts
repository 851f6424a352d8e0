// `check --sarif`: SARIF 2.1.0, so CI code scanning shows the findings. The trace is the artifact;
// the object path is the logical location.

import { RULE_IDS, type RuleId } from './finding.js';
import type { CheckResult } from './check.js';

const RULE_TEXT: Record<RuleId, string> = {
  'struct-size': 'The size a request encodes differs from the struct the driver reads.',
  direction: 'Data flows against the direction the request or its fields declare.',
  'multiplexed-attr': 'A multiplexed payload (device attribute, ONE_REG) cannot be resolved or sized.',
  uninitialised: 'The driver reads input bytes that were never initialised.',
  'unknown-ioctl': 'No schema knows this request on this object.',
  abi: 'A 32-bit monitor passes a struct whose layout differs from the 64-bit kernel\'s.',
  'kernel-pointer': 'A user pointer points into the kernel\'s half of the address space.',
  protocol: 'Requests come in an order or on an object the driver does not expect.',
};

const LEVEL = { error: 'error', warning: 'warning', note: 'note' } as const;

export function sarifReport(path: string, result: CheckResult, version: string): string {
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'ioctlgrind',
            version,
            informationUri: 'https://github.com/ioctlgrind/ioctlgrind',
            rules: RULE_IDS.map((id) => ({ id, shortDescription: { text: RULE_TEXT[id] } })),
          },
        },
        artifacts: [{ location: { uri: path } }],
        results: result.contexts.map((c) => ({
          ruleId: c.first.rule,
          ruleIndex: RULE_IDS.indexOf(c.first.rule),
          level: LEVEL[c.first.severity],
          message: { text: c.first.message },
          locations: [
            {
              physicalLocation: { artifactLocation: { uri: path, index: 0 } },
              logicalLocations: [{ name: c.first.object, kind: 'object' }, { name: c.first.name, kind: 'function' }],
            },
          ],
          occurrenceCount: c.count,
          properties: { seq: c.firstSeq, lastSeq: c.lastSeq, field: c.first.field ?? null, pid: c.first.pid },
        })),
      },
    ],
  };
  return JSON.stringify(log, null, 2) + '\n';
}
