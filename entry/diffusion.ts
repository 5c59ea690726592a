/**
 * The package's `rolling-diffusion/diffusion` entry: the diffusion folder's public face, with the
 * default backends registered (diffusion itself imports only core, which never imports a backend), so
 * this entry works when it is the first or only one a program imports.
 * @module rolling-diffusion/diffusion
 */
import '../index.js';
export * from '../diffusion/index.js';
