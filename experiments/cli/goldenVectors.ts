/**
 * `rolling vectors --out golden.json`: the golden vectors of the diffusion package with the FSD
 * section added, written atomically (DESIGN.md, principle 5).
 */
import { goldenVectors, serializeGoldenVectors, type GoldenVectors } from '../../diffusion/golden.js';
import { writeFileAtomic } from '../formats/atomicWrite.js';
import { fsdGoldenSection } from '../metrics/goldenFsd.js';

/** Every section: diffusion's and the FSD one. */
export function allGoldenVectors(): GoldenVectors {
  return goldenVectors({ fsd: fsdGoldenSection() });
}

/** Writes all golden vectors to `path` (temporary file, fsync, rename) and returns what was written. */
export async function writeGoldenVectors(path: string): Promise<GoldenVectors> {
  const vectors = allGoldenVectors();
  await writeFileAtomic(path, serializeGoldenVectors(vectors));
  return vectors;
}
