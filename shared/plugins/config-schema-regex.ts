/**
 * Safety of the `pattern` keyword of a plugin's configuration schema.
 *
 * Patterns are written by PronaFlow operators (trusted) but run against values that workspace
 * admins type (untrusted), inside a Lambda with a CPU budget. Two defences:
 *
 * 1. The input is bounded: every string field has a `maxLength` (10,000 code points when the
 *    schema gives none), checked before the pattern runs.
 * 2. {@link patternProblem} rejects, when the manifest is published, the patterns whose
 *    backtracking is exponential: the shapes behind almost every ReDoS report. It is a
 *    structural check on the pattern's syntax tree, deliberately simple and conservative:
 *
 *    - the pattern must compile as an ECMAScript regular expression with the `u` flag;
 *    - no backreferences (`\1`, `\k<name>`);
 *    - **no nested repetition**: a group repeated more than once (`*`, `+`, `{n,}`, `{n,m}` with
 *      m > 1) may not contain another repeating quantifier, unless both quantifiers are bounded
 *      and the product of their maxima is at most 100. Rejects `(a+)+`, `(a*)*`, `(\w+\s?)*`,
 *      `(a+){2,5}`; accepts `(\d{1,3}\.){3}`;
 *    - **no ambiguous alternation under repetition**: inside a repeated group, every alternation
 *      must be between plain literal strings (no classes, no `.`, no quantifiers) that begin with
 *      distinct characters. Rejects `(a|a)*`, `(\w|\d)+`, `(ab|ac)*`; accepts `(foo|bar)+`.
 *
 *    It errs on the side of refusing: a safe pattern such as `^[a-z]+(\.[a-z]+)*$` is refused too
 *    (write `^[a-z][a-z.]*$`, or check the finer shape in the plugin). Polynomial cases such as
 *    `\s*\s*$` are not detected; the length bound keeps them within milliseconds.
 *
 * We chose this over a library: `safe-regex2` (15 KB minified, 4.4 KB gzipped, with `ret`) only
 * measures star height and accepts `(a|a)*`; `recheck` is exact but ships a Scala.js bundle or a
 * native binary per platform, too heavy for a Lambda bundle.
 */

type Quantifier = { min: number; max: number };

type Atom =
  | { kind: 'char'; char: string }
  | { kind: 'set' } // a class, `.`, `\d`, `\p{…}`, an escape we do not read as one character
  | { kind: 'assertion' } // `^`, `$`, `\b`, `\B`
  | { kind: 'backref' }
  | { kind: 'group'; alternatives: Term[][] }; // capturing, non-capturing, named, lookaround

type Term = { atom: Atom; quantifier?: Quantifier };

/** The most a bounded nested repetition may multiply to (outer max × inner max). */
const NESTED_BOUND = 100;

/** Characters that `\` turns into themselves (ECMAScript SyntaxCharacter, plus `/` and `-`). */
const IDENTITY_ESCAPES = new Set([...'^$\\.*+?()[]{}|/-']);
const CONTROL_ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', f: '\f', v: '\v', 0: '\0' };

class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  parse(): Term[][] {
    return this.alternatives();
  }

  private alternatives(): Term[][] {
    const alternatives: Term[][] = [this.sequence()];
    while (this.src[this.i] === '|') {
      this.i++;
      alternatives.push(this.sequence());
    }
    return alternatives;
  }

  private sequence(): Term[] {
    const terms: Term[] = [];
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') {
      const atom = this.atom();
      const quantifier = this.quantifier();
      terms.push(quantifier ? { atom, quantifier } : { atom });
    }
    return terms;
  }

  private atom(): Atom {
    const c = this.src[this.i]!;
    if (c === '(') {
      this.i++;
      if (this.src[this.i] === '?') {
        // (?: (?= (?! (?<= (?<! (?<name>
        this.i++;
        if (this.src[this.i] === '<' && this.src[this.i + 1] !== '=' && this.src[this.i + 1] !== '!') {
          const end = this.src.indexOf('>', this.i);
          this.i = end === -1 ? this.src.length : end + 1;
        } else {
          this.i += this.src[this.i] === '<' ? 2 : 1;
        }
      }
      const alternatives = this.alternatives();
      this.i++; // ')'
      return { kind: 'group', alternatives };
    }
    if (c === '[') {
      this.i++;
      if (this.src[this.i] === '^') this.i++;
      while (this.i < this.src.length && this.src[this.i] !== ']') {
        this.i += this.src[this.i] === '\\' ? 2 : 1;
      }
      this.i++; // ']'
      return { kind: 'set' };
    }
    if (c === '\\') return this.escape();
    const cp = this.src.codePointAt(this.i)!;
    this.i += cp > 0xffff ? 2 : 1;
    if (c === '.') return { kind: 'set' };
    if (c === '^' || c === '$') return { kind: 'assertion' };
    return { kind: 'char', char: String.fromCodePoint(cp) };
  }

  private escape(): Atom {
    const c = this.src[this.i + 1] ?? '';
    this.i += 2;
    if (c === 'b' || c === 'B') return { kind: 'assertion' };
    if (/[1-9]/.test(c)) return { kind: 'backref' };
    if (c === 'k') return { kind: 'backref' };
    if (IDENTITY_ESCAPES.has(c)) return { kind: 'char', char: c };
    const control = CONTROL_ESCAPES[c];
    if (control !== undefined && !(c === '0' && /\d/.test(this.src[this.i] ?? ''))) {
      return { kind: 'char', char: control };
    }
    if ((c === 'p' || c === 'P' || c === 'u') && this.src[this.i] === '{') {
      const end = this.src.indexOf('}', this.i);
      this.i = end === -1 ? this.src.length : end + 1;
    } else if (c === 'u') {
      this.i += 4;
    } else if (c === 'x') {
      this.i += 2;
    } else if (c === 'c') {
      this.i += 1;
    }
    return { kind: 'set' };
  }

  private quantifier(): Quantifier | undefined {
    const c = this.src[this.i];
    let q: Quantifier | undefined;
    if (c === '*') q = { min: 0, max: Number.POSITIVE_INFINITY };
    else if (c === '+') q = { min: 1, max: Number.POSITIVE_INFINITY };
    else if (c === '?') q = { min: 0, max: 1 };
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
      if (!m) return undefined;
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
      this.i += m[0].length - 1;
      q = { min, max };
    }
    if (!q) return undefined;
    this.i++;
    if (this.src[this.i] === '?') this.i++; // lazy: same backtracking space
    return q;
  }
}

const repeats = (q: Quantifier | undefined): q is Quantifier => q !== undefined && q.max > 1;

/** Every term nested anywhere inside the given alternatives. */
function* allTerms(alternatives: Term[][]): Generator<Term> {
  for (const seq of alternatives) {
    for (const term of seq) {
      yield term;
      if (term.atom.kind === 'group') yield* allTerms(term.atom.alternatives);
    }
  }
}

/** A plain literal alternative: characters only, no quantifier. Its first character, or undefined. */
function literalStart(seq: Term[]): string | undefined {
  if (seq.length === 0) return undefined;
  for (const term of seq) {
    if (term.atom.kind !== 'char' || term.quantifier) return undefined;
  }
  const first = seq[0]!.atom;
  return first.kind === 'char' ? first.char : undefined;
}

function ambiguousAlternation(alternatives: Term[][]): boolean {
  if (alternatives.length < 2) return false;
  const starts = new Set<string>();
  for (const seq of alternatives) {
    const start = literalStart(seq);
    if (start === undefined || starts.has(start)) return true;
    starts.add(start);
  }
  return false;
}

function problemIn(alternatives: Term[][]): string | undefined {
  for (const term of allTerms(alternatives)) {
    if (term.atom.kind === 'backref') return 'backreferences are not allowed';
    const outer = term.quantifier;
    if (term.atom.kind !== 'group' || !repeats(outer)) continue;
    const body = term.atom.alternatives;
    if (ambiguousAlternation(body)) {
      return 'a repeated group may only alternate between plain literals with distinct first characters';
    }
    for (const inner of allTerms(body)) {
      if (inner.atom.kind === 'group' && ambiguousAlternation(inner.atom.alternatives)) {
        return 'a repeated group may only alternate between plain literals with distinct first characters';
      }
      if (repeats(inner.quantifier) && outer.max * inner.quantifier.max > NESTED_BOUND) {
        return 'nested repetition (such as (a+)+) can take exponential time';
      }
    }
  }
  return undefined;
}

/** Compiled patterns, by source: schemas are few and patterns are short (≤ 200 characters). */
const compiled = new Map<string, RegExp | null>();

/** The pattern compiled with the `u` flag, or null when it does not compile. */
export function compilePattern(pattern: string): RegExp | null {
  let re = compiled.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern, 'u');
    } catch {
      re = null;
    }
    if (compiled.size > 1000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re;
}

/**
 * Why a `pattern` may not be used, or undefined when it may: it must compile with the `u` flag
 * and pass the structural ReDoS check described at the top of this module.
 */
export function patternProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    return `pattern does not compile: ${(err as Error).message}`;
  }
  return problemIn(new Parser(pattern).parse());
}
