/**
 * Loads a module only Node has: a `node:` builtin, or an optional native package (`webgpu`, Dawn).
 * The specifier travels in a variable, so a browser build of a program that uses this library (Vite,
 * esbuild, webpack, with their default settings) neither resolves nor bundles it; callers reach it only
 * behind a run-time check that they are in Node.
 */
export function importNodeModule<Module>(specifier: string): Promise<Module> {
  return import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<Module>;
}
