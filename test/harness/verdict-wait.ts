// Waiting on a cluster's verdicts: until they satisfy a check, and on timeout an error that says what they were.
import { waitUntil } from '../../tools/launcher.ts'

/** Polls `read` (the verdicts now, as kind|subject) until `check` holds; `context` adds to the timeout's message. */
export async function untilVerdictsHold (read: () => Promise<string[]>, what: string, check: (vs: string[]) => boolean,
  timeoutMs: number, context: () => Promise<string> = async () => ''): Promise<number> {
  let last: string[] | string = 'none read'
  try {
    return await waitUntil(what, async () => {
      last = await read().catch((err: unknown) => `error: ${(err as Error).message}`)
      return Array.isArray(last) && check(last)
    }, timeoutMs, 100)
  } catch (err) {
    throw new Error(`${(err as Error).message}; last verdicts: ${JSON.stringify(last)}${await context()}`)
  }
}
