/**
 * The real BAIR clip the experiments tests read: ../shared/data/bair/bair_sample.npz beside the
 * checkout (never copied into the project). A missing clip fails the test that needs it, naming
 * where it must be: it does not skip.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const BAIR_SAMPLE = resolve(process.cwd(), '../shared/data/bair/bair_sample.npz');

/** The clip's path, or an error saying where it must sit. */
export function requireBairSample(): string {
  if (!existsSync(BAIR_SAMPLE)) {
    throw new Error(`missing ${BAIR_SAMPLE}: the real BAIR clip bair_sample.npz must sit in ../shared/data/bair/ beside the checkout (CI has it)`);
  }
  return BAIR_SAMPLE;
}
