/**
 * A static check for regular expressions that backtrack catastrophically in a backtracking engine (V8's): a
 * repeated group that itself holds an unbounded quantifier (`(a+)+`, `(\w*\s?)*`, `(a+){20}`) or a repeated group
 * holding a repeated part under an unbounded quantifier (`(a{1,9})+`). On a text that almost matches, such a pattern
 * tries every way to split the text between the two quantifiers: exponential (or high-degree polynomial) time.
 *
 * What it does not catch (overlapping alternatives under a quantifier, `(a|a)*`; adjacent quantifiers, `\d+\d+`, which
 * are polynomial) the per-page extraction deadline bounds.
 */

interface Quantified {
  /** Largest repetition count; `Infinity` for `*`, `+` and `{n,}`. */
  readonly max: number;
  /** Whether the count varies (`{3}` does not: it cannot split a text in more than one way). */
  readonly variable: boolean;
}

/** What a part of a pattern repeats: the largest `max` of the variable quantifiers within (1 when none). */
interface Scan {
  readonly innerMax: number;
  readonly problem?: string;
}

const QUANTIFIER = /^(?:[*+?]|\{(\d+)(?:(,)(\d*))?\})\??/;

/**
 * Why a pattern may backtrack catastrophically, or `undefined` when it has no nested quantifier.
 *
 * @example nestedQuantifierProblem('^(a+)+$') // 'nested quantifier: "(a+)+" repeats a group that itself repeats …'
 */
export function nestedQuantifierProblem(pattern: string): string | undefined {
  let index = 0;

  /** Reads one quantifier at the cursor, if any. */
  function quantifier(): Quantified | undefined {
    const match = QUANTIFIER.exec(pattern.slice(index));
    if (!match) return undefined;
    index += match[0].length;
    const symbol = match[0][0];
    if (symbol === '*' || symbol === '+') return { max: Number.POSITIVE_INFINITY, variable: true };
    if (symbol === '?') return { max: 1, variable: true };
    const low = Number(match[1]);
    if (match[2] === undefined) return { max: low, variable: false };
    const high = match[3] === '' ? Number.POSITIVE_INFINITY : Number(match[3]);
    return { max: high, variable: high > low };
  }

  /** Skips an escape (`\d`, `\u{…}`, `\k<name>`, …) at the cursor. */
  function skipEscape(): void {
    index += 2;
    const letter = pattern[index - 1];
    if (letter === 'u' && pattern[index] === '{') index = pattern.indexOf('}', index) + 1 || pattern.length;
    else if (letter === 'k' && pattern[index] === '<') index = pattern.indexOf('>', index) + 1 || pattern.length;
  }

  /** Skips a character class `[…]` at the cursor. */
  function characterClass(): void {
    index++;
    while (index < pattern.length && pattern[index] !== ']') {
      if (pattern[index] === '\\') skipEscape();
      else index++;
    }
    index++;
  }

  /** Scans a sequence of alternatives up to the closing `)` (or the end) of the current group. */
  function sequence(): Scan {
    let innerMax = 1;
    while (index < pattern.length && pattern[index] !== ')') {
      const start = index;
      const char = pattern[index];
      let atom: Scan = { innerMax: 1 };
      if (char === '|') {
        index++;
        continue;
      }
      if (char === '\\') skipEscape();
      else if (char === '[') characterClass();
      else if (char === '(') {
        index++;
        if (pattern[index] === '?') {
          // (?: (?= (?! (?<= (?<! (?<name>
          index++;
          if (pattern[index] === '<' && pattern[index + 1] !== '=' && pattern[index + 1] !== '!') {
            index = pattern.indexOf('>', index) + 1 || pattern.length;
          } else index += pattern[index] === '<' ? 2 : 1;
        }
        atom = sequence();
        if (atom.problem) return atom;
        index++;
      } else index++;
      const repeat = quantifier();
      const unbounded = repeat?.max === Number.POSITIVE_INFINITY || atom.innerMax === Number.POSITIVE_INFINITY;
      if (repeat && repeat.max > 1 && atom.innerMax > 1 && unbounded) {
        const text = pattern.slice(start, index);
        return {
          innerMax,
          problem: `nested quantifier: "${text}" repeats a group that itself repeats a variable number of times, which can backtrack for minutes on a text that almost matches; repeat the group or its content, not both`,
        };
      }
      innerMax = Math.max(innerMax, atom.innerMax, repeat?.variable ? repeat.max : 1);
    }
    return { innerMax };
  }

  let problem: string | undefined;
  while (index < pattern.length && problem === undefined) {
    problem = sequence().problem;
    index++; // an unbalanced ")" (not possible in a valid pattern): go on after it
  }
  return problem;
}
