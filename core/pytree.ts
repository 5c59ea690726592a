/**
 * The pytree node registry, as JAX's `jax.tree_util.register_pytree_node`: a class registered here
 * is walked through like a plain object by every tree function, memory scope and transformation
 * (`grad`, `valueAndGrad`, `vjp`, `tidy`, `dispose`, `treeMap`, …), so an Equinox-style module can
 * be a parameter container:
 *
 *     class Linear { constructor(readonly w: Tensor, readonly b: Tensor) {} }
 *     registerPytreeNode(Linear, (m) => [{ w: m.w, b: m.b }, null], (_, c) => new Linear(c.w, c.b));
 *     // or, for a class whose fields are its data: registerPytreeDataclass(Linear, ['w', 'b']);
 *
 * Plain objects and arrays are nodes without registering. Any other object (a `Map`, an unregistered
 * class) is refused by the transformations and the tree functions with an error that names its type
 * and where it sits, instead of being passed through as if it had no tensors in it (JAX raises for
 * unregistered types too).
 *
 * This file knows nothing of tensors, so the tensor module (memory scopes) and the tree functions
 * (tree.ts) both walk trees with its `forEachLeaf`.
 */

/** How to take a node apart and put it back together. */
export interface PytreeNodeDef<T = unknown, C = unknown, A = unknown> {
  /** The node's children (a pytree: an array as in JAX, or a plain object whose keys name the paths) and static data. */
  readonly flatten: (node: T) => readonly [children: C, aux: A];
  /** A node from the static data and (transformed) children. */
  readonly unflatten: (aux: A, children: C) => T;
  /** The class's name, for error messages. */
  readonly name: string;
}

// Keyed by prototype (not `x.constructor`, which an own property could shadow); as in JAX, a subclass
// is a type of its own and needs its own registration.
const registry = new Map<object, PytreeNodeDef>();

/**
 * Register a class as a pytree node (JAX's `register_pytree_node(nodetype, flatten, unflatten)`).
 * `flatten(node)` returns `[children, aux]`: the children are walked (their keys or indices become
 * the path names, e.g. in safetensors), `aux` is static data handed back to `unflatten(aux, children)`.
 */
export function registerPytreeNode<T extends object, C, A>(nodeType: abstract new (...args: never[]) => T, flatten: (node: T) => readonly [C, A], unflatten: (aux: A, children: C) => T): void {
  if (typeof nodeType !== 'function' || typeof nodeType.prototype !== 'object') throw new Error(`registerPytreeNode: expected a class, got ${describeValue(nodeType)}`);
  if (nodeType.prototype === Object.prototype || nodeType.prototype === Array.prototype) throw new Error(`registerPytreeNode: ${nodeType.name} is a pytree node already`);
  if (typeof flatten !== 'function' || typeof unflatten !== 'function') throw new Error(`registerPytreeNode(${nodeType.name}): flatten and unflatten must be functions`);
  if (registry.has(nodeType.prototype)) throw new Error(`registerPytreeNode: ${nodeType.name} is registered already`);
  registry.set(nodeType.prototype, { flatten, unflatten, name: nodeType.name } as PytreeNodeDef);
}

/**
 * Register a class whose named fields hold its children (JAX's `register_dataclass`): `dataFields`
 * are walked, `metaFields` are static and copied as they are. Unflattening makes an instance of the
 * class without calling its constructor and assigns the fields.
 */
export function registerPytreeDataclass<T extends object>(nodeType: abstract new (...args: never[]) => T, dataFields: readonly (keyof T & string)[], metaFields: readonly (keyof T & string)[] = []): void {
  for (const f of [...dataFields, ...metaFields]) if (typeof f !== 'string') throw new Error(`registerPytreeDataclass(${nodeType.name}): field names must be strings`);
  registerPytreeNode(
    nodeType,
    (node: T) => {
      const children: Record<string, unknown> = {};
      for (const f of dataFields) children[f] = node[f];
      return [children, metaFields.map((f) => node[f])] as const;
    },
    (aux: unknown[], children: Record<string, unknown>) => {
      const node = Object.create(nodeType.prototype) as Record<string, unknown>;
      for (const f of dataFields) node[f] = children[f];
      metaFields.forEach((f, i) => (node[f] = aux[i]));
      return node as T;
    },
  );
}

/** The registered definition of an object's class, if any. */
export function pytreeNodeOf(x: object): PytreeNodeDef | undefined {
  return registry.size === 0 ? undefined : registry.get(Object.getPrototypeOf(x) as object);
}

/** Plain objects (`{}` literals, `Object.create(null)`) are nodes; their keys name the paths. */
export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A child's path: keys and indices joined with '.' (the safetensors naming). */
export function joinPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/**
 * The one walk over a pytree's leaves, in the order every tree function uses (array indices, plain
 * objects' keys in insertion order, a registered node's children as its `flatten` gives them):
 * `visit(leaf, path)` on every object that `isLeaf` accepts (a tensor); values that are not objects
 * (numbers, strings, null, functions) are skipped; an object that is neither a leaf nor a node goes
 * to `opaque(x, path)`, which throws (the tree functions) or returns to skip it (memory scopes, which
 * may be handed anything). Paths are built only when `path` is a string; with null they are all ''.
 */
export function forEachLeaf<L extends object>(
  tree: unknown,
  isLeaf: (x: object) => x is L,
  visit: (leaf: L, path: string) => void,
  opaque: (x: object, path: string) => void,
  path: string | null = null,
): void {
  if (tree === null || typeof tree !== 'object') return;
  if (isLeaf(tree)) visit(tree, path ?? '');
  else if (Array.isArray(tree)) {
    for (let i = 0; i < tree.length; i++) forEachLeaf(tree[i], isLeaf, visit, opaque, path === null ? null : joinPath(path, String(i)));
  } else if (isPlainObject(tree)) {
    for (const k of Object.keys(tree)) forEachLeaf(tree[k], isLeaf, visit, opaque, path === null ? null : joinPath(path, k));
  } else {
    const node = pytreeNodeOf(tree);
    if (node === undefined) opaque(tree, path ?? '');
    else forEachLeaf(node.flatten(tree)[0], isLeaf, visit, opaque, path);
  }
}

/** A value's kind in words, for error messages: "a Map", "an instance of class Lin", "the string 'a'". */
export function describeValue(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  switch (typeof x) {
    case 'number': return `the number ${x}`;
    case 'string': return `the string ${JSON.stringify(x.length > 20 ? `${x.slice(0, 20)}…` : x)}`;
    case 'boolean': return `the boolean ${x}`;
    case 'bigint': return `the bigint ${x}n`;
    case 'symbol': return `the symbol ${String(x)}`;
    case 'function': return `a function${x.name ? ` (${x.name})` : ''}`;
  }
  if (Array.isArray(x)) return `an array of ${x.length}`;
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name}`;
  if (x instanceof Map) return 'a Map';
  if (x instanceof Set) return 'a Set';
  if (x instanceof Promise) return 'a Promise (await it first)';
  const proto = Object.getPrototypeOf(x) as { constructor?: { name?: string } } | null;
  const name = proto?.constructor?.name;
  if (proto === null || proto === Object.prototype) return 'a plain object';
  return name ? `an instance of class ${name}` : 'an object of unknown class';
}

/** The error for an object that is neither a tensor, a plain object/array nor a registered node. */
export function notAPytreeNode(op: string, x: object, path: string): Error {
  const cls = (Object.getPrototypeOf(x) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'C';
  const hint = x instanceof Map
    ? 'use a plain object instead (keys become the paths)'
    : `register the class with registerPytreeNode(${cls}, flatten, unflatten) or registerPytreeDataclass(${cls}, [fields])`;
  return new Error(`${op}: ${describeValue(x)} at '${path || '<root>'}' is not a pytree node (a tensor, a plain object, an array or a registered class); ${hint}`);
}
