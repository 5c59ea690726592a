export type { DType, TypedArray, DTypeArrays } from './dtype';
export type { Backend, BackendBuffer, BufferInfo, OutputInfo } from './backend';
export type { Prim, BackendPrim, PrimParams, Im2ColParams, UnaryPrim, BinaryPrim, BitwisePrim, ComparePrim } from './primitives';
export { UNARY_PRIMS, BINARY_PRIMS, BITWISE_PRIMS, COMPARE_PRIMS } from './primitives';
export { Tensor, registerBackend, setBackend, setDefaultBackends, getBackend, getBackendName, resetBackend, tidy, keep, dispose, memoryStats, scoped } from './tensor';
export type { TensorTree } from './tensor';
export { bind, vjp, grad, valueAndGrad, stopGradient, isTracing } from './trace';
export type { GradOptions, Pullback } from './trace';
export * from './ops';
// `split` is the PRNG's (JAX's random.split); the tensor split of ops.ts is exported as splitTensor.
export { split as splitTensor } from './ops';
export { key, keyFromWords, isKey, split, foldIn, randomBits, uniform, uniformHost, normal, bernoulli, randint, permutation, threefry2x32Block, threefry2x32Lanes, threefry2x32Ops } from './random';
export type { Key } from './random';
export { treeMap, treeZipMap, treeLeaves, treeFlatten, treeUnflatten, treeSize } from './tree';
export type { Tree } from './tree';
export { broadcastShapes, broadcastStrides, collapseStrides, sizeOf, stridesOf, shapeEq, normalizeAxes, normalizeAxis } from './shape';
export type { Shape } from './shape';
export { makeTypedArray, bytesPerElement } from './dtype';
