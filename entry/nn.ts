/**
 * The package's `rolling-diffusion/nn` entry: the nn folder's public face, with the default backends
 * registered (nn itself imports only core, which never imports a backend), so this entry works when it
 * is the first or only one a program imports.
 * @module rolling-diffusion/nn
 */
import '../index.js';
export * from '../nn/index.js';
