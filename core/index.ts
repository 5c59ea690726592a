export type { DType, TypedArray, DTypeArrays } from './dtype.js';
export type { Backend, BackendBuffer, BufferInfo, OutputInfo } from './backend.js';
export type { Prim, BackendPrim, PrimParams, Im2ColParams, UnaryPrim, BinaryPrim, BitwisePrim, ComparePrim } from './primitives.js';
export { UNARY_PRIMS, BINARY_PRIMS, BITWISE_PRIMS, COMPARE_PRIMS } from './primitives.js';
export { Tensor, registerBackend, setBackend, setDefaultBackends, getBackend, getBackendName, resetBackend, tidy, keep, dispose, memoryStats, scoped } from './tensor.js';
export type { TensorTree } from './tensor.js';
export { bind, vjp, grad, valueAndGrad, stopGradient, isTracing } from './trace.js';
export type { GradOptions, Pullback } from './trace.js';
export * from './ops.js';
// `split` is the PRNG's (JAX's random.split); the tensor split of ops.ts is exported as splitTensor.
export { split as splitTensor } from './ops.js';
export { key, keyFromWords, isKey, split, foldIn, randomBits, uniform, uniformHost, normal, bernoulli, randint, permutation, threefry2x32Block, threefry2x32Lanes, threefry2x32Ops } from './random.js';
export type { Key } from './random.js';
export { treeMap, treeZipMap, treeLeaves, treeFlatten, treeUnflatten, treeSize } from './tree.js';
export type { Tree } from './tree.js';
export { broadcastShapes, broadcastStrides, collapseStrides, sizeOf, stridesOf, shapeEq, normalizeAxes, normalizeAxis } from './shape.js';
export type { Shape } from './shape.js';
export { makeTypedArray, bytesPerElement } from './dtype.js';
