/**
 * The JSON Schema subset of diffusion/jsonSchema.ts, keyword by keyword: what each accepts, the exact
 * violation it reports (with the path), and the descriptions walker. golden.test.ts checks the golden
 * file against its schema; these are the validator's own known answers, so a keyword that silently
 * checks nothing is seen here.
 */
import { describe, expect, it } from 'vitest';
import { jsonSchemaFieldDescriptions, validateJsonSchema, type JsonSchema } from '../../diffusion/index.js';

const v = validateJsonSchema;

describe('validateJsonSchema', () => {
  it('type: each JSON type by name, integer counted as a number, null as null (not object)', () => {
    expect(v(null, { type: 'null' })).toEqual([]);
    expect(v(null, { type: 'object' })).toEqual(['$: expected object, got null']);
    expect(v([1], { type: 'array' })).toEqual([]);
    expect(v([1], { type: 'object' })).toEqual(['$: expected object, got array']);
    expect(v(3, { type: 'number' })).toEqual([]);
    expect(v(3, { type: 'integer' })).toEqual([]);
    expect(v(1.5, { type: 'integer' })).toEqual(['$: expected integer, got number']);
    expect(v('a', { type: 'number' })).toEqual(['$: expected number, got string']);
    expect(v(true, { type: 'boolean' })).toEqual([]);
    expect(v({}, { type: 'string' })).toEqual(['$: expected string, got object']);
    expect(v(3, { type: 'string' })).toEqual(['$: expected string, got integer']);
  });

  it('numbers: finite only, minimum and maximum inclusive', () => {
    expect(v(Infinity, { type: 'number' })).toEqual(['$: Infinity is not a finite number']);
    expect(v(Number.NaN, {})).toEqual(['$: NaN is not a finite number']);
    expect(v(2, { minimum: 2, maximum: 2 })).toEqual([]);
    expect(v(1, { minimum: 2 })).toEqual(['$: 1 < minimum 2']);
    expect(v(3, { maximum: 2 })).toEqual(['$: 3 > maximum 2']);
    // Without the keywords, any finite number passes.
    expect(v(-1e300, {})).toEqual([]);
  });

  it('const and enum compare JSON values', () => {
    expect(v({ a: [1] }, { const: { a: [1] } })).toEqual([]);
    expect(v(2, { const: 1 })).toEqual(['$: expected 1, got 2']);
    expect(v('b', { enum: ['a', 'b'] })).toEqual([]);
    expect(v('c', { enum: ['a', 'b'] })).toEqual(['$: "c" is not one of ["a","b"]']);
  });

  it('arrays: minItems and maxItems inclusive, items checked with their index in the path; strings are not arrays', () => {
    expect(v([1, 2], { minItems: 2, maxItems: 2 })).toEqual([]);
    expect(v([1], { minItems: 2 })).toEqual(['$: 1 items < minItems 2']);
    expect(v([1, 2, 3], { maxItems: 2 })).toEqual(['$: 3 items > maxItems 2']);
    expect(v([1, 'x', 2.5], { items: { type: 'integer' } })).toEqual(['$[1]: expected integer, got string', '$[2]: expected integer, got number']);
    expect(v([1, 'x'], {})).toEqual([]);
    expect(v('ab', { minItems: 3, maxItems: 1 })).toEqual([]);
  });

  it('objects: required, properties with the name in the path, additionalProperties false or a schema; arrays are not objects', () => {
    const schema: JsonSchema = { type: 'object', required: ['a'], properties: { a: { type: 'number' } } };
    expect(v({ a: 1, extra: 'x' }, schema)).toEqual([]);
    expect(v({ b: 1 }, schema)).toEqual(['$: missing required property "a"']);
    expect(v({ a: 'x' }, schema)).toEqual(['$.a: expected number, got string']);
    expect(v({ a: 1, b: 2 }, { ...schema, additionalProperties: false })).toEqual(['$: unexpected property "b"']);
    expect(v({ a: 1, b: 2, c: 'x' }, { ...schema, additionalProperties: { type: 'number' } })).toEqual(['$.c: expected number, got string']);
    expect(v({ a: 1, b: 'x' }, { ...schema, additionalProperties: true })).toEqual([]);
    expect(v([1], { required: ['a'] })).toEqual([]);
    expect(v({ o: { p: [{ q: 'x' }] } }, { properties: { o: { properties: { p: { items: { properties: { q: { type: 'number' } } } } } } } })).toEqual([
      '$.o.p[0].q: expected number, got string',
    ]);
  });

  it('local $ref through $defs; other references and unresolved ones throw, as do unsupported keywords; annotations are allowed', () => {
    const root: JsonSchema = { $defs: { n: { type: 'number' } }, properties: { a: { $ref: '#/$defs/n' } } };
    expect(v({ a: 'x' }, root)).toEqual(['$.a: expected number, got string']);
    expect(() => v(1, { $ref: 'https://example.com/s.json' })).toThrow('validateJsonSchema: only local references are supported, got https://example.com/s.json');
    expect(() => v(1, { $ref: '#/$defs/missing' })).toThrow('validateJsonSchema: unresolved reference #/$defs/missing');
    expect(() => v(1, { $ref: '#/nowhere/deeper' })).toThrow('validateJsonSchema: unresolved reference #/nowhere/deeper');
    expect(() => v(1, { $defs: { n: null }, $ref: '#/$defs/n' })).toThrow('validateJsonSchema: unresolved reference #/$defs/n');
    expect(() => v(1, { pattern: 'a' })).toThrow('validateJsonSchema: unsupported keyword "pattern" at $');
    const annotated: JsonSchema = { $schema: 'https://json-schema.org/draft/2020-12/schema', $id: 'x', title: 't', description: 'd', $comment: 'c', $defs: {} };
    expect(v(1, annotated)).toEqual([]);
  });
});

describe('jsonSchemaFieldDescriptions', () => {
  it('every described field by path (a[] for any element), through $ref with the referring description first, without the root', () => {
    const schema: JsonSchema = {
      description: 'the root',
      $defs: { point: { description: 'a point', properties: { x: { description: 'its x' } } } },
      properties: {
        a: { type: 'number', description: 'A' },
        b: { $ref: '#/$defs/point', description: 'B, a point' },
        c: { type: 'array', description: 'C', items: { $ref: '#/$defs/point' } },
        d: { type: 'array', description: 'D', items: { type: 'number', description: 'a number' } },
        e: { type: 'array', description: 'E', items: { properties: { y: { description: 'its y' } } } },
        f: { $ref: '#/$defs/point' },
      },
    };
    expect(jsonSchemaFieldDescriptions(schema)).toEqual({
      a: 'A',
      b: 'B, a point',
      'b.x': 'its x',
      c: 'C',
      'c[]': 'a point',
      'c[].x': 'its x',
      d: 'D',
      e: 'E',
      'e[].y': 'its y',
      f: 'a point',
      'f.x': 'its x',
    });
  });
});
