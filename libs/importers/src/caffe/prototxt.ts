// Reader for the protobuf text format (what Caffe's .prototxt files are), typed by our caffe.proto
// subset (schema.ts).
//
// Grammar, as protobuf's TextFormat parser accepts it: `name: value`, `name { ... }`,
// `name: { ... }`, `name < ... >`, list values `name: [a, b]`, optional `,`/`;` separators, `#`
// comments, single- or double-quoted strings with C escapes (adjacent strings concatenate),
// decimal/hex/octal integers, floats with an optional `f` suffix, `inf`/`nan`, enum values by
// name or number, and true/false/t/f/True/False/1/0 for bools.
//
// Fields the schema does not know are parsed (so syntax errors are still found) and skipped:
// caffe.proto has hundreds of training-only fields (`param`, fillers, data sources) that do not
// matter for inference. A field the schema knows must have a value of the right kind, else the
// error names its line and column. Every message object created carries its source line under the
// SOURCE_LINE symbol (not enumerable), so later errors can point at the prototxt line of a layer.
//
// Messages are parsed recursively, so nesting is capped at MAX_PROTOTXT_DEPTH: a hostile file of
// 100 000 `a {` would otherwise overflow the stack. Real nets nest 3 or 4 deep
// (net > layer > convolution_param > weight_filler).
import * as protobuf from 'protobufjs';
import { CaffeImportError } from './errors';
import { NetParameterType } from './schema';
import { NetParameterMsg } from './types';

const SOURCE_LINE: unique symbol = Symbol('caffe.sourceLine');

/** Deepest nesting of `{ }` / `< >` messages accepted (the top level is depth 0). */
const MAX_PROTOTXT_DEPTH = 100;

/** A prototxt that is not valid text format, or has a value of the wrong kind for a field. */
export class PrototxtSyntaxError extends CaffeImportError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}:${column}: syntax error: ${reason}`);
    this.name = 'PrototxtSyntaxError';
  }
}

/** The prototxt line a message object came from (undefined for objects not made by this reader). */
export function lineOf(message: object | undefined): number | undefined {
  return message ? (message as { [SOURCE_LINE]?: number })[SOURCE_LINE] : undefined;
}

type TokenKind = 'ident' | 'number' | 'string' | 'symbol' | 'eof';

interface Token {
  kind: TokenKind;
  /** Source text (for strings: the decoded value). */
  text: string;
  line: number;
  column: number;
}

const SYMBOLS = new Set(['{', '}', '<', '>', '[', ']', ':', ',', ';', '-']);

class Lexer {
  private pos = 0;
  private line = 1;
  private lineStart = 0;
  private peeked: Token | undefined;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  fail(line: number, column: number, reason: string): never {
    throw new PrototxtSyntaxError(this.file, line, column, reason);
  }

  peek(): Token {
    this.peeked ??= this.scan();
    return this.peeked;
  }

  next(): Token {
    const t = this.peek();
    this.peeked = undefined;
    return t;
  }

  private column(): number {
    return this.pos - this.lineStart + 1;
  }

  private skipSpaceAndComments(): void {
    const s = this.text;
    while (this.pos < s.length) {
      const c = s[this.pos];
      if (c === '\n') {
        this.pos++;
        this.line++;
        this.lineStart = this.pos;
      } else if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
        this.pos++;
      } else if (c === '#') {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
      } else {
        return;
      }
    }
  }

  private scan(): Token {
    this.skipSpaceAndComments();
    const s = this.text;
    const line = this.line;
    const column = this.column();
    if (this.pos >= s.length) return { kind: 'eof', text: '', line, column };
    const c = s[this.pos];
    if (SYMBOLS.has(c)) {
      this.pos++;
      return { kind: 'symbol', text: c, line, column };
    }
    if (c === '"' || c === "'") return { kind: 'string', text: this.scanString(c, line, column), line, column };
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(this.pos, this.pos + 256));
    if (ident) {
      this.pos += ident[0].length;
      return { kind: 'ident', text: ident[0], line, column };
    }
    const num = /^(?:0[xX][0-9A-Fa-f]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fF]?)/.exec(s.slice(this.pos, this.pos + 256));
    if (num) {
      this.pos += num[0].length;
      if (this.pos < s.length && /[A-Za-z0-9_.]/.test(s[this.pos])) {
        this.fail(line, column, `malformed number '${num[0]}${s[this.pos]}'`);
      }
      return { kind: 'number', text: num[0], line, column };
    }
    const shown = c.charCodeAt(0) < 32 ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c;
    return this.fail(line, column, `unexpected character '${shown}'`);
  }

  private scanString(quote: string, line: number, column: number): string {
    const s = this.text;
    const bytes: number[] = [];
    const encoder = new TextEncoder();
    this.pos++;
    for (;;) {
      if (this.pos >= s.length || s[this.pos] === '\n') this.fail(line, column, 'unterminated string');
      const c = s[this.pos];
      if (c === quote) {
        this.pos++;
        break;
      }
      if (c !== '\\') {
        const cp = s.codePointAt(this.pos) as number;
        const ch = String.fromCodePoint(cp);
        for (const b of encoder.encode(ch)) bytes.push(b);
        this.pos += ch.length;
        continue;
      }
      const escLine = this.line;
      const escColumn = this.column();
      const e = s[this.pos + 1];
      this.pos += 2;
      const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, "'": 39, '"': 34, '?': 63 };
      if (e !== undefined && e in simple) {
        bytes.push(simple[e]);
      } else if (e !== undefined && /[0-7]/.test(e)) {
        let digits = e;
        while (digits.length < 3 && /[0-7]/.test(s[this.pos] ?? '')) digits += s[this.pos++];
        const v = parseInt(digits, 8);
        if (v > 255) this.fail(escLine, escColumn, `octal escape \\${digits} is out of range`);
        bytes.push(v);
      } else if (e === 'x' || e === 'X') {
        let digits = '';
        while (digits.length < 2 && /[0-9A-Fa-f]/.test(s[this.pos] ?? '')) digits += s[this.pos++];
        if (digits === '') this.fail(escLine, escColumn, '\\x escape without hex digits');
        bytes.push(parseInt(digits, 16));
      } else if (e === 'u' || e === 'U') {
        const n = e === 'u' ? 4 : 8;
        const digits = s.slice(this.pos, this.pos + n);
        if (!new RegExp(`^[0-9A-Fa-f]{${n}}$`).test(digits)) this.fail(escLine, escColumn, `\\${e} escape needs ${n} hex digits`);
        this.pos += n;
        const cp = parseInt(digits, 16);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) this.fail(escLine, escColumn, `\\${e}${digits} is not a valid code point`);
        for (const b of encoder.encode(String.fromCodePoint(cp))) bytes.push(b);
      } else {
        this.fail(escLine, escColumn, `unknown escape sequence '\\${e ?? ''}'`);
      }
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  }
}

type Scalar = { tokens: Token[]; negative: boolean; first: Token };

class Parser {
  constructor(private readonly lex: Lexer) {}

  private fail(t: Token, reason: string): never {
    return this.lex.fail(t.line, t.column, reason);
  }

  private describe(t: Token): string {
    if (t.kind === 'eof') return 'end of file';
    if (t.kind === 'string') return `string ${JSON.stringify(t.text)}`;
    return `'${t.text}'`;
  }

  private isSymbol(t: Token, s: string): boolean {
    return t.kind === 'symbol' && t.text === s;
  }

  /** Parses fields until `close` (a symbol) or end of file (close undefined). */
  parseMessage(type: protobuf.Type | undefined, close: string | undefined, line: number, depth: number): Record<string, unknown> {
    const obj: Record<string, unknown> = {};
    Object.defineProperty(obj, SOURCE_LINE, { value: line, enumerable: false });
    for (;;) {
      const t = this.lex.peek();
      if (close === undefined ? t.kind === 'eof' : this.isSymbol(t, close)) {
        this.lex.next();
        return obj;
      }
      if (t.kind === 'eof') this.fail(t, `expected '${close}' before end of file`);
      if (this.isSymbol(t, '[')) this.fail(t, 'extension fields ([...]) are not supported');
      if (t.kind !== 'ident') this.fail(t, `expected a field name, got ${this.describe(t)}`);
      this.lex.next();
      this.parseField(type, t, obj, depth);
      const sep = this.lex.peek();
      if (this.isSymbol(sep, ',') || this.isSymbol(sep, ';')) this.lex.next();
    }
  }

  private parseField(type: protobuf.Type | undefined, nameTok: Token, obj: Record<string, unknown>, depth: number): void {
    const name = nameTok.text;
    const field = type?.fields[name];
    if (field) field.resolve();
    const messageType = field?.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    const known = field !== undefined;
    let t = this.lex.peek();
    let colon = false;
    if (this.isSymbol(t, ':')) {
      colon = true;
      this.lex.next();
      t = this.lex.peek();
    }
    const store = (value: unknown) => {
      if (!known) return;
      if (field.repeated) {
        const arr = (obj[name] ??= []) as unknown[];
        arr.push(value);
      } else {
        obj[name] = value;
      }
    };
    const parseOne = (): void => {
      const v = this.lex.peek();
      if (this.isSymbol(v, '{') || this.isSymbol(v, '<')) {
        if (known && !messageType) this.fail(v, `field '${name}' takes a ${field.type} value, not a message`);
        if (depth + 1 > MAX_PROTOTXT_DEPTH) this.fail(v, `messages nest deeper than ${MAX_PROTOTXT_DEPTH} levels (the limit of this reader)`);
        this.lex.next();
        store(this.parseMessage(messageType, v.text === '{' ? '}' : '>', nameTok.line, depth + 1));
        return;
      }
      if (known && messageType) this.fail(v, `field '${name}' is a message: expected '{', got ${this.describe(v)}`);
      const scalar = this.parseScalar();
      if (known) store(this.convert(field, scalar));
    };
    if (this.isSymbol(t, '{') || this.isSymbol(t, '<')) {
      parseOne();
      return;
    }
    if (!colon) this.fail(t, `expected ':' or '{' after field name '${name}', got ${this.describe(t)}`);
    if (this.isSymbol(t, '[')) {
      if (known && !field.repeated) this.fail(t, `field '${name}' is not repeated: a list value is not allowed`);
      this.lex.next();
      if (this.isSymbol(this.lex.peek(), ']')) {
        this.lex.next();
        return;
      }
      for (;;) {
        parseOne();
        const sep = this.lex.next();
        if (this.isSymbol(sep, ']')) return;
        if (!this.isSymbol(sep, ',')) this.fail(sep, `expected ',' or ']' in the list value of '${name}', got ${this.describe(sep)}`);
      }
    }
    parseOne();
  }

  private parseScalar(): Scalar {
    let t = this.lex.next();
    const first = t;
    let negative = false;
    if (this.isSymbol(t, '-')) {
      negative = true;
      t = this.lex.next();
      if (t.kind !== 'number' && t.kind !== 'ident') this.fail(t, `expected a number after '-', got ${this.describe(t)}`);
    }
    if (t.kind === 'string') {
      const tokens = [t];
      while (this.lex.peek().kind === 'string') tokens.push(this.lex.next());
      return { tokens, negative, first };
    }
    if (t.kind !== 'number' && t.kind !== 'ident') this.fail(t, `expected a value, got ${this.describe(t)}`);
    return { tokens: [t], negative, first };
  }

  private convert(field: protobuf.Field, v: Scalar): unknown {
    const t = v.tokens[0];
    const name = field.name;
    if (field.resolvedType instanceof protobuf.Enum) {
      const e = field.resolvedType;
      if (t.kind === 'ident' && !v.negative) {
        if (!(t.text in e.values)) this.fail(t, `'${t.text}' is not a value of ${e.name} (field '${name}'; values: ${Object.keys(e.values).join(', ')})`);
        return t.text;
      }
      if (t.kind === 'number') {
        const n = this.integer(v, name, true);
        const label = e.valuesById[n];
        if (label === undefined) this.fail(t, `${n} is not a value of ${e.name} (field '${name}')`);
        return label;
      }
      return this.fail(t, `field '${name}' takes an enum value of ${e.name}, got ${this.describe(t)}`);
    }
    switch (field.type) {
      case 'string':
      case 'bytes':
        if (t.kind !== 'string' || v.negative) this.fail(v.first, `field '${name}' takes a quoted string, got ${this.describe(t)}`);
        return v.tokens.map((x) => x.text).join('');
      case 'bool':
        if (!v.negative && t.kind === 'ident') {
          if (['true', 'True', 't'].includes(t.text)) return true;
          if (['false', 'False', 'f'].includes(t.text)) return false;
        }
        if (!v.negative && t.kind === 'number' && (t.text === '0' || t.text === '1')) return t.text === '1';
        return this.fail(v.first, `field '${name}' takes true or false, got ${this.describe(t)}`);
      case 'float':
      case 'double':
        return this.float(v, name);
      case 'int32':
      case 'sint32':
      case 'sfixed32':
      case 'int64':
      case 'sint64':
      case 'sfixed64':
        return this.integer(v, name, true, field.type.endsWith('32') ? 32 : 64);
      case 'uint32':
      case 'fixed32':
      case 'uint64':
      case 'fixed64':
        return this.integer(v, name, false, field.type.endsWith('32') ? 32 : 64);
      default:
        return this.fail(t, `field '${name}' has type ${field.type}, which this reader does not handle`);
    }
  }

  private float(v: Scalar, name: string): number {
    const t = v.tokens[0];
    const sign = v.negative ? -1 : 1;
    if (t.kind === 'ident') {
      const lower = t.text.toLowerCase();
      if (lower === 'inf' || lower === 'infinity') return sign * Infinity;
      if (lower === 'nan') return NaN;
      return this.fail(v.first, `field '${name}' takes a number, got ${this.describe(t)}`);
    }
    if (t.kind !== 'number') return this.fail(v.first, `field '${name}' takes a number, got ${this.describe(t)}`);
    let text = t.text;
    if (/^0[xX]/.test(text)) return sign * parseInt(text, 16);
    if (/[fF]$/.test(text)) text = text.slice(0, -1);
    const n = Number(text);
    if (!Number.isFinite(n) && !/^[0-9.eE+-]+$/.test(text)) this.fail(t, `malformed number '${t.text}'`);
    return sign * n;
  }

  private integer(v: Scalar, name: string, signed: boolean, bits = 32): number {
    const t = v.tokens[0];
    if (t.kind !== 'number') return this.fail(v.first, `field '${name}' takes an integer, got ${this.describe(t)}`);
    let n: number;
    if (/^0[xX]/.test(t.text)) n = parseInt(t.text, 16);
    else if (/^0[0-7]+$/.test(t.text)) n = parseInt(t.text, 8);
    else if (/^[0-9]+$/.test(t.text)) n = Number(t.text);
    else return this.fail(t, `field '${name}' takes an integer, got '${t.text}'`);
    if (v.negative) {
      if (!signed) this.fail(v.first, `field '${name}' is unsigned: negative value not allowed`);
      n = -n;
    }
    const max = bits === 32 ? (signed ? 2 ** 31 - 1 : 2 ** 32 - 1) : Number.MAX_SAFE_INTEGER;
    const min = signed ? (bits === 32 ? -(2 ** 31) : -Number.MAX_SAFE_INTEGER) : 0;
    if (!Number.isSafeInteger(n) || n > max || n < min) this.fail(v.first, `integer ${v.negative ? '-' : ''}${t.text} is out of range for field '${name}'`);
    return n;
  }
}

/**
 * Parses text-format `text` as a message of `type`. Unknown fields are skipped; known ones are
 * stored under their (snake_case) names, repeated ones as arrays, enums as value names.
 */
function parseTextFormat(text: string, type: protobuf.Type, file = '<text>'): Record<string, unknown> {
  // A UTF-8 byte order mark is not part of the text.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return new Parser(new Lexer(body, file)).parseMessage(type, undefined, 1, 0);
}

/** Parses a Caffe prototxt (NetParameter in text format). `file` labels error messages. */
export function parsePrototxt(text: string, file = 'prototxt'): NetParameterMsg {
  return parseTextFormat(text, NetParameterType, file) as NetParameterMsg;
}
