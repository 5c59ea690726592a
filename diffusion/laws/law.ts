/**
 * Laws and running them: a law is a named fast-check property; `checkLaws` runs a list and reports
 * each law, `assertLaws` throws listing the ones that failed.
 */
import fc from 'fast-check';

/** A named property. `numRuns` overrides the runner's default (the sampler laws are expensive). */
export interface Law {
  readonly name: string;
  readonly property: fc.IProperty<unknown> | fc.IAsyncProperty<unknown>;
  /** Runs, the `examples` included (fast-check counts them in numRuns). */
  readonly numRuns?: number;
  /**
   * Inputs always run first (fast-check's `examples`, one array of arguments each): the cases a few
   * random runs would reach only by chance, such as the rolling windows of the sampler laws.
   */
  readonly examples?: readonly (readonly unknown[])[];
}

export interface LawResult {
  readonly name: string;
  readonly ok: boolean;
  /** The shrunk failing input, as fast-check prints it. */
  readonly counterexample?: string;
  /** What the law saw (the message of the error the property threw). */
  readonly error?: string;
}

export interface CheckOptions {
  /** Runs per law unless the law sets its own (default 100, fast-check's). */
  readonly numRuns?: number;
  /** Seed for reproducible runs; fast-check picks one when absent. */
  readonly seed?: number;
}

/** Runs every law (one after another) and reports each; never throws for a failing law. */
export async function checkLaws(laws: readonly Law[], options: CheckOptions = {}): Promise<LawResult[]> {
  const results: LawResult[] = [];
  for (const law of laws) {
    const details = await fc.check(law.property, {
      numRuns: law.numRuns ?? options.numRuns ?? 100,
      ...(law.examples ? { examples: law.examples as unknown[] } : {}),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
    });
    if (!details.failed) {
      results.push({ name: law.name, ok: true });
      continue;
    }
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    results.push({
      name: law.name,
      ok: false,
      ...(details.counterexample === null ? {} : { counterexample: fc.stringify(details.counterexample) }),
      error: error.split('\n')[0],
    });
  }
  return results;
}

/** Runs the laws and throws one error listing every law that failed, with its counterexample. */
export async function assertLaws(laws: readonly Law[], options: CheckOptions = {}): Promise<void> {
  const failed = (await checkLaws(laws, options)).filter((r) => !r.ok);
  if (failed.length > 0) {
    const lines = failed.map((r) => `- ${r.name}\n    counterexample: ${r.counterexample ?? '(none)'}\n    ${r.error ?? ''}`);
    throw new Error(`${failed.length} law(s) failed:\n${lines.join('\n')}`);
  }
}
