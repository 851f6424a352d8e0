// How the command line reports failures: user errors in one line, never a stack trace.

/** Errors from bad input (a file, a number, a flag) whose message alone tells the user what to fix. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Errors JavaScript raises for bugs in ioctlgrind itself, not for bad input. */
const INTERNAL = [TypeError, RangeError, ReferenceError, SyntaxError];

export function reportFailure(err: unknown): number {
  const e = err instanceof Error ? err : new Error(String(err));
  const internal = INTERNAL.some((k) => e instanceof k);
  const line = e.message.split('\n')[0];
  if (internal) {
    process.stderr.write(`ioctlgrind: internal error: ${line}${process.env.IOCTLGRIND_DEBUG ? `\n${e.stack}` : ' (set IOCTLGRIND_DEBUG=1 for the stack)'}\n`);
    return 70;
  }
  process.stderr.write(`ioctlgrind: ${line}\n`);
  return e instanceof UserError ? e.exitCode : 1;
}
