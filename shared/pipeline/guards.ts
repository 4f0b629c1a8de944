/**
 * Checks for the shapes the pipeline exchanges (queue messages, page records): a few composable functions with the
 * `safeParse`/`parse` surface of a schema library, without one. A schema library costs a Lambda function hundreds of
 * KB and tens of ms at cold start; these cost nothing until called. Objects are strict (unknown keys are problems),
 * defaults are applied, every problem is reported with its path.
 */

/** One problem of a value, at a path such as `raw.offset`. */
export interface GuardIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** The outcome of {@link Guard.safeParse}. */
export type GuardResult<T> =
  | { readonly success: true; readonly data: T }
  | { readonly success: false; readonly error: { readonly issues: readonly GuardIssue[] } };

/** A value's shape: checks an unknown value and returns it typed, defaults applied. */
export interface Guard<T> {
  safeParse(input: unknown): GuardResult<T>;
  /** @throws {TypeError} listing every problem */
  parse(input: unknown): T;
}

/** The type a guard produces. */
export type Infer<G> = G extends Guard<infer T> ? T : never;

/** Marks an object property that may be absent (`undefined` passes; a default fills it in). */
const OPTIONAL: unique symbol = Symbol('optional');

/** The function a guard is built from: the value, or `issues` extended. */
type Check<T> = (input: unknown, path: (string | number)[], issues: GuardIssue[]) => T;

interface Built<T> extends Guard<T> {
  readonly check: Check<T>;
  readonly [OPTIONAL]?: true;
}

function guard<T>(check: Check<T>, optional = false): Built<T> {
  return {
    check,
    ...(optional ? { [OPTIONAL]: true as const } : {}),
    safeParse(input) {
      const issues: GuardIssue[] = [];
      const data = check(input, [], issues);
      return issues.length === 0 ? { success: true, data } : { success: false, error: { issues } };
    },
    parse(input) {
      const result = this.safeParse(input);
      if (result.success) return result.data;
      throw new TypeError(result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; '));
    },
  };
}

function typeOf(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'array';
  return typeof input;
}

function expected(what: string, input: unknown, path: (string | number)[], issues: GuardIssue[]): undefined {
  issues.push({ path: [...path], message: `expected ${what}, received ${typeOf(input)}` });
  return undefined;
}

function isObject(input: unknown): input is Record<string, unknown> {
  return typeof input === 'object' && input !== null && !Array.isArray(input);
}

/** Options of {@link string}. */
export interface StringOptions {
  /** A pattern the whole string must match. */
  readonly pattern?: RegExp;
  /** Checks a value further: returns what is wrong with it, else `undefined`. */
  readonly refine?: (value: string) => string | undefined;
}

export function string(options: StringOptions = {}): Built<string> {
  return guard((input, path, issues) => {
    if (typeof input !== 'string') return expected('string', input, path, issues) as unknown as string;
    if (options.pattern && !options.pattern.test(input)) {
      issues.push({ path: [...path], message: `invalid string: must match ${options.pattern}` });
    }
    const problem = options.refine?.(input);
    if (problem !== undefined) issues.push({ path: [...path], message: problem });
    return input;
  });
}

/** Options of {@link number}. */
export interface NumberOptions {
  readonly int?: boolean;
  /** Smallest value allowed. */
  readonly min?: number;
  /** The value must be above 0. */
  readonly positive?: boolean;
}

export function number(options: NumberOptions = {}): Built<number> {
  return guard((input, path, issues) => {
    if (typeof input !== 'number' || !Number.isFinite(input)) return expected('number', input, path, issues) as unknown as number;
    if (options.int && !Number.isInteger(input)) issues.push({ path: [...path], message: 'expected int, received number' });
    if (options.min !== undefined && input < options.min)
      issues.push({ path: [...path], message: `too small: expected number to be >=${options.min}` });
    if (options.positive && input <= 0) issues.push({ path: [...path], message: 'too small: expected number to be >0' });
    return input;
  });
}

/** A whole number ≥ 0. */
export const count = (): Built<number> => number({ int: true, min: 0 });

export function boolean(): Built<boolean> {
  return guard((input, path, issues) =>
    typeof input === 'boolean' ? input : (expected('boolean', input, path, issues) as unknown as boolean),
  );
}

export function literal<const L extends string>(value: L): Built<L> {
  return guard((input, path, issues) => {
    if (input !== value) issues.push({ path: [...path], message: `invalid input: expected ${JSON.stringify(value)}` });
    return value;
  });
}

export function oneOf<const L extends string>(values: readonly L[]): Built<L> {
  return guard((input, path, issues) => {
    if (!(values as readonly unknown[]).includes(input)) {
      issues.push({
        path: [...path],
        message: `invalid option: expected one of ${values.map((v) => JSON.stringify(v)).join('|')}`,
      });
    }
    return input as L;
  });
}

/** Anything (a value whose shape is someone else's business). */
export function unknown(): Built<unknown> {
  return guard((input) => input);
}

/** Options of {@link array}. */
export interface ArrayOptions {
  /** Fewest items allowed. */
  readonly min?: number;
}

export function array<T>(item: Built<T>, options: ArrayOptions = {}): Built<T[]> {
  return guard((input, path, issues) => {
    if (!Array.isArray(input)) return expected('array', input, path, issues) as unknown as T[];
    if (options.min !== undefined && input.length < options.min) {
      issues.push({ path: [...path], message: `too small: expected array to have >=${options.min} items` });
    }
    return input.map((value, index) => item.check(value, [...path, index], issues));
  });
}

export function tuple<const A, const B>(first: Built<A>, second: Built<B>): Built<[A, B]> {
  return guard((input, path, issues) => {
    if (!Array.isArray(input)) return expected('tuple', input, path, issues) as unknown as [A, B];
    if (input.length !== 2) issues.push({ path: [...path], message: `expected 2 items, received ${input.length}` });
    return [first.check(input[0], [...path, 0], issues), second.check(input[1], [...path, 1], issues)];
  });
}

/** An object of any keys, each value checked by `value`. */
export function record<T>(value: Built<T>): Built<Record<string, T>> {
  return guard((input, path, issues) => {
    if (!isObject(input)) return expected('record', input, path, issues) as unknown as Record<string, T>;
    const out: Record<string, T> = {};
    for (const [key, entry] of Object.entries(input)) out[key] = value.check(entry, [...path, key], issues);
    return out;
  });
}

export function nullable<T>(inner: Built<T>): Built<T | null> {
  return guard((input, path, issues) => (input === null ? null : inner.check(input, path, issues)));
}

/** A property that may be absent. */
export function optional<T>(inner: Built<T>): Built<T | undefined> {
  return guard((input, path, issues) => (input === undefined ? undefined : inner.check(input, path, issues)), true);
}

/** A property that is `fallback` when absent. */
export function withDefault<T>(inner: Built<T>, fallback: T): Built<T> {
  return guard((input, path, issues) => (input === undefined ? fallback : inner.check(input, path, issues)), true);
}

type Shape = Record<string, Built<unknown>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends Built<infer T> ? (undefined extends T ? K : never) : never;
}[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
/** The object a shape produces: properties whose guard lets `undefined` through are optional. */
export type ObjectOf<S extends Shape> = Simplify<
  { -readonly [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & {
    -readonly [K in OptionalKeys<S>]?: Infer<S[K]>;
  }
>;

/** An object with exactly these keys (an unknown key is a problem); absent optional keys stay absent. */
export function strictObject<S extends Shape>(shape: S): Built<ObjectOf<S>> {
  const keys = Object.keys(shape);
  return guard((input, path, issues) => {
    if (!isObject(input)) return expected('object', input, path, issues) as unknown as ObjectOf<S>;
    const unknownKeys = Object.keys(input).filter((key) => !Object.hasOwn(shape, key));
    if (unknownKeys.length > 0) {
      issues.push({
        path: [...path],
        message: `unrecognized key${unknownKeys.length > 1 ? 's' : ''}: ${unknownKeys.map((key) => JSON.stringify(key)).join(', ')}`,
      });
    }
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const property = shape[key] as Built<unknown>;
      const value = input[key];
      if (value === undefined && !property[OPTIONAL]) {
        issues.push({ path: [...path, key], message: 'required' });
        continue;
      }
      const checked = property.check(value, [...path, key], issues);
      if (checked !== undefined) out[key] = checked;
    }
    return out as ObjectOf<S>;
  });
}

/** One of several object shapes, chosen by the value of `key` (each option's `key` is a {@link literal}). */
export function discriminatedUnion<
  const K extends string,
  const O extends readonly (Built<unknown> & { readonly tag: string })[],
>(key: K, options: O): Built<Infer<O[number]>> {
  const byTag = new Map(options.map((option) => [option.tag, option]));
  return guard((input, path, issues) => {
    if (!isObject(input)) return expected('object', input, path, issues) as Infer<O[number]>;
    const option = byTag.get(input[key] as string);
    if (!option) {
      issues.push({
        path: [...path, key],
        message: `invalid input: expected one of ${[...byTag.keys()].map((tag) => JSON.stringify(tag)).join('|')}`,
      });
      return undefined as Infer<O[number]>;
    }
    return option.check(input, path, issues) as Infer<O[number]>;
  });
}

/** A {@link strictObject} whose `key` property is the literal `tag`, for {@link discriminatedUnion}. */
export function variant<const K extends string, const T extends string, S extends Shape>(
  key: K,
  tag: T,
  shape: S,
): Built<ObjectOf<S & Record<K, Built<T>>>> & { readonly tag: T } {
  return { ...strictObject({ ...shape, [key]: literal(tag) } as S & Record<K, Built<T>>), tag };
}

/** The first of several guards the value passes; the problems of the first otherwise. */
export function union<A, B>(first: Built<A>, second: Built<B>): Built<A | B> {
  return guard((input, path, issues) => {
    const a: GuardIssue[] = [];
    const value = first.check(input, path, a);
    if (a.length === 0) return value;
    const b: GuardIssue[] = [];
    const other = second.check(input, path, b);
    if (b.length === 0) return other;
    issues.push(...a);
    return value;
  });
}

/** An object with at least these keys (others are dropped), for events whose producers add fields. */
export function looseObject<S extends Shape>(shape: S): Built<ObjectOf<S>> {
  const strict = strictObject(shape);
  return guard((input, path, issues) => {
    if (!isObject(input)) return expected('object', input, path, issues) as unknown as ObjectOf<S>;
    const known = Object.fromEntries(
      Object.keys(shape)
        .filter((key) => key in input)
        .map((key) => [key, input[key]]),
    );
    return strict.check(known, path, issues);
  });
}
