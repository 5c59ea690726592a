/**
 * The real BAIR clip the experiments tests read: test/fixtures/bair/bair_sample.npz, shipped in the
 * repository (provenance and licence in test/fixtures/bair/README.md) so a fresh clone passes with
 * nothing beside it. It is not in the published package. A missing clip fails the test that needs
 * it, naming where it must be: it does not skip.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BAIR_SAMPLE = fileURLToPath(new URL('../fixtures/bair/bair_sample.npz', import.meta.url));

/** The clip's path, or an error saying where it must sit. */
export function requireBairSample(): string {
  if (!existsSync(BAIR_SAMPLE)) {
    throw new Error(`missing ${BAIR_SAMPLE}: the real BAIR clip is part of the repository (test/fixtures/bair/); is the checkout complete?`);
  }
  return BAIR_SAMPLE;
}
