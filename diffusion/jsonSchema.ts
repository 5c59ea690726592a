/**
 * The subset of JSON Schema (draft 2020-12) this package's schemas use, with nothing of diffusion in
 * it: a validator (`validateJsonSchema`, which checks a file such as golden.json against its schema)
 * and the walker that collects every field's description (the golden vectors' `fields`). Any keyword
 * outside the subset throws rather than being ignored, so a schema never silently checks less than it
 * says.
 */

/** A JSON Schema node: keywords to values. */
export type JsonSchema = { readonly [keyword: string]: unknown };

const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', '$comment', '$defs']);
const SUPPORTED = new Set([...ANNOTATIONS, 'type', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'maxItems', 'enum', 'const', 'minimum', 'maximum', '$ref']);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function resolve(root: JsonSchema, reference: string): JsonSchema {
  if (!reference.startsWith('#/')) throw new Error(`validateJsonSchema: only local references are supported, got ${reference}`);
  let node: unknown = root;
  for (const part of reference.slice(2).split('/')) node = (node as Record<string, unknown>)?.[part];
  if (typeof node !== 'object' || node === null) throw new Error(`validateJsonSchema: unresolved reference ${reference}`);
  return node as JsonSchema;
}

/**
 * Checks `value` against `schema` for the keywords this package's schemas use (type, properties,
 * required, additionalProperties, items, minItems, maxItems, enum, const, minimum, maximum, local
 * $ref); any other keyword throws rather than being ignored. Returns the violations, empty when valid.
 */
export function validateJsonSchema(value: unknown, schema: JsonSchema, root: JsonSchema = schema, path = '$'): string[] {
  for (const keyword of Object.keys(schema)) {
    if (!SUPPORTED.has(keyword)) throw new Error(`validateJsonSchema: unsupported keyword "${keyword}" at ${path}`);
  }
  if (typeof schema.$ref === 'string') return validateJsonSchema(value, resolve(root, schema.$ref), root, path);
  const errors: string[] = [];
  const type = typeOf(value);
  if (typeof schema.type === 'string' && !(schema.type === type || (schema.type === 'number' && type === 'integer'))) {
    return [`${path}: expected ${schema.type}, got ${type}`];
  }
  if ('const' in schema && JSON.stringify(value) !== JSON.stringify(schema.const)) errors.push(`${path}: expected ${JSON.stringify(schema.const)}, got ${JSON.stringify(value)}`);
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) errors.push(`${path}: ${value} is not a finite number`);
    if (typeof schema.minimum === 'number' && value < schema.minimum) errors.push(`${path}: ${value} < minimum ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) errors.push(`${path}: ${value} > maximum ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) errors.push(`${path}: ${value.length} items < minItems ${schema.minItems}`);
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) errors.push(`${path}: ${value.length} items > maxItems ${schema.maxItems}`);
    if (schema.items) value.forEach((item, i) => errors.push(...validateJsonSchema(item, schema.items as JsonSchema, root, `${path}[${i}]`)));
  }
  if (type === 'object') {
    const record = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    for (const name of (schema.required ?? []) as string[]) if (!(name in record)) errors.push(`${path}: missing required property "${name}"`);
    for (const [name, item] of Object.entries(record)) {
      if (name in properties) errors.push(...validateJsonSchema(item, properties[name]!, root, `${path}.${name}`));
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property "${name}"`);
      else if (typeof schema.additionalProperties === 'object' && schema.additionalProperties !== null) {
        errors.push(...validateJsonSchema(item, schema.additionalProperties as JsonSchema, root, `${path}.${name}`));
      }
    }
  }
  return errors;
}

/** Every field's description in `schema`, keyed by path (`a[]` stands for any element of `a`). */
export function jsonSchemaFieldDescriptions(schema: JsonSchema, root: JsonSchema = schema, prefix = ''): Record<string, string> {
  const node = typeof schema.$ref === 'string' ? { ...resolve(root, schema.$ref), ...(schema.description ? { description: schema.description } : {}) } : schema;
  const out: Record<string, string> = {};
  if (prefix && typeof node.description === 'string') out[prefix] = node.description;
  if (node.properties) {
    for (const [name, child] of Object.entries(node.properties as Record<string, JsonSchema>)) {
      Object.assign(out, jsonSchemaFieldDescriptions(child, root, prefix ? `${prefix}.${name}` : name));
    }
  }
  if (node.items && typeof node.items === 'object') {
    const items = node.items as JsonSchema;
    const resolved = typeof items.$ref === 'string' ? resolve(root, items.$ref) : items;
    if (resolved.properties) Object.assign(out, jsonSchemaFieldDescriptions(items, root, `${prefix}[]`));
  }
  return out;
}
