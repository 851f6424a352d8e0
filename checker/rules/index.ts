// Every rule, made fresh for each check (some remember what the trace has done so far).

import type { Rule } from '../rule.js';
import { abi } from './abi.js';
import { direction } from './direction.js';
import { headerMismatch } from './header-mismatch.js';
import { kernelPointer } from './kernel-pointer.js';
import { multiplexedAttr } from './multiplexed-attr.js';
import { ProtocolRule } from './protocol.js';
import { structSize } from './struct-size.js';
import { uninitialised } from './uninitialised.js';
import { unmatchedRequest } from './unmatched-request.js';

export function makeRules(): Rule[] {
  return [unmatchedRequest, headerMismatch, structSize, direction, multiplexedAttr, uninitialised, abi, kernelPointer, new ProtocolRule()];
}
