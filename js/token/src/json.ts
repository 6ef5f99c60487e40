// A JSON reader over bytes that reaches the same verdicts as serde_json does in the Rust crate:
// duplicate detection for the names the crate reads, raw values for claims, strict strings
// (UTF-8, escapes, no lone surrogates) where the crate decodes them, lenient skipping where it
// ignores a value, and serde_json's nesting limit where it builds values.

/** Thrown for any syntax or type problem; callers map it to their error code. */
export class JsonError extends Error {}

const MAX_DEPTH = 128;
const fatalUtf8 = new TextDecoder("utf-8", { fatal: true });

function isWs(c: number): boolean {
	return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

export function skipWs(b: Uint8Array, i: number): number {
	while (i < b.length && isWs(b[i])) i++;
	return i;
}

function isHex(c: number): boolean {
	return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** `i` at the opening quote; returns the index after the closing quote. Checks escapes and control characters only. */
export function scanString(b: Uint8Array, i: number): number {
	i++;
	for (;;) {
		if (i >= b.length) throw new JsonError("EOF while parsing a string");
		const c = b[i];
		if (c === 0x22) return i + 1;
		if (c < 0x20) throw new JsonError("control character in a string");
		if (c === 0x5c) {
			const e = b[i + 1];
			if (e === 0x75) {
				for (let k = 2; k < 6; k++) {
					if (i + k >= b.length) throw new JsonError("EOF while parsing a string");
					if (!isHex(b[i + k])) throw new JsonError("invalid escape");
				}
				i += 6;
				continue;
			}
			if (e === undefined) throw new JsonError("EOF while parsing a string");
			if (!'"\\/bfnrt'.includes(String.fromCharCode(e))) throw new JsonError("invalid escape");
			i += 2;
			continue;
		}
		i++;
	}
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Decode a string literal `b[start..end]` (quotes included) strictly: valid UTF-8, no lone surrogates. */
export function decodeString(b: Uint8Array, start: number, end: number): string {
	let text: string;
	try {
		text = fatalUtf8.decode(b.subarray(start, end));
	} catch {
		throw new JsonError("invalid UTF-8");
	}
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch {
		throw new JsonError("invalid string");
	}
	if (typeof value !== "string" || LONE_SURROGATE.test(value)) throw new JsonError("invalid unicode code point");
	return value;
}

function scanNumber(b: Uint8Array, i: number): number {
	if (b[i] === 0x2d) i++;
	const digit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;
	if (!digit(b[i])) throw new JsonError("invalid number");
	if (b[i] === 0x30) {
		i++;
		if (digit(b[i])) throw new JsonError("invalid number");
	} else {
		while (digit(b[i])) i++;
	}
	if (b[i] === 0x2e) {
		i++;
		if (!digit(b[i])) throw new JsonError("invalid number");
		while (digit(b[i])) i++;
	}
	if (b[i] === 0x65 || b[i] === 0x45) {
		i++;
		if (b[i] === 0x2b || b[i] === 0x2d) i++;
		if (!digit(b[i])) throw new JsonError("invalid number");
		while (digit(b[i])) i++;
	}
	return i;
}

function scanLiteral(b: Uint8Array, i: number, word: string): number {
	for (let k = 0; k < word.length; k++) {
		if (b[i + k] !== word.charCodeAt(k)) throw new JsonError("expected a value");
	}
	return i + word.length;
}

/** Skip one value like serde's `IgnoredAny`: syntax only, no UTF-8 check, no nesting limit. `i` at the value. */
export function skipValue(b: Uint8Array, i: number): number {
	i = skipWs(b, i);
	const c = b[i];
	switch (c) {
		case 0x6e:
			return scanLiteral(b, i, "null");
		case 0x74:
			return scanLiteral(b, i, "true");
		case 0x66:
			return scanLiteral(b, i, "false");
		case 0x22:
			return scanString(b, i);
		case 0x5b: {
			i = skipWs(b, i + 1);
			if (b[i] === 0x5d) return i + 1;
			for (;;) {
				i = skipWs(b, skipValue(b, i));
				if (b[i] === 0x2c) {
					i++;
					continue;
				}
				if (b[i] === 0x5d) return i + 1;
				throw new JsonError("expected , or ]");
			}
		}
		case 0x7b: {
			i = skipWs(b, i + 1);
			if (b[i] === 0x7d) return i + 1;
			for (;;) {
				if (b[i] !== 0x22) throw new JsonError("key must be a string");
				i = skipWs(b, scanString(b, i));
				if (b[i] !== 0x3a) throw new JsonError("expected :");
				i = skipWs(b, skipValue(b, i + 1));
				if (b[i] === 0x2c) {
					i = skipWs(b, i + 1);
					continue;
				}
				if (b[i] === 0x7d) return i + 1;
				throw new JsonError("expected , or }");
			}
		}
		default:
			if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) return scanNumber(b, i);
			throw new JsonError("expected a value");
	}
}

/**
 * Parse one value into plain JavaScript like `serde_json::Value`: strict strings, nesting limited
 * as serde_json limits it, duplicate names keep the last value. `depth` is the nesting already used.
 */
export function parseValue(b: Uint8Array, i: number, depth: number): [unknown, number] {
	i = skipWs(b, i);
	const c = b[i];
	switch (c) {
		case 0x6e:
			return [null, scanLiteral(b, i, "null")];
		case 0x74:
			return [true, scanLiteral(b, i, "true")];
		case 0x66:
			return [false, scanLiteral(b, i, "false")];
		case 0x22: {
			const end = scanString(b, i);
			return [decodeString(b, i, end), end];
		}
		case 0x5b: {
			if (depth + 1 >= MAX_DEPTH) throw new JsonError("recursion limit exceeded");
			const out: unknown[] = [];
			i = skipWs(b, i + 1);
			if (b[i] === 0x5d) return [out, i + 1];
			for (;;) {
				const [v, next] = parseValue(b, i, depth + 1);
				out.push(v);
				i = skipWs(b, next);
				if (b[i] === 0x2c) {
					i++;
					continue;
				}
				if (b[i] === 0x5d) return [out, i + 1];
				throw new JsonError("expected , or ]");
			}
		}
		case 0x7b: {
			if (depth + 1 >= MAX_DEPTH) throw new JsonError("recursion limit exceeded");
			const out: Record<string, unknown> = {};
			i = skipWs(b, i + 1);
			if (b[i] === 0x7d) return [out, i + 1];
			for (;;) {
				if (b[i] !== 0x22) throw new JsonError("key must be a string");
				const keyEnd = scanString(b, i);
				const key = decodeString(b, i, keyEnd);
				i = skipWs(b, keyEnd);
				if (b[i] !== 0x3a) throw new JsonError("expected :");
				const [v, next] = parseValue(b, i + 1, depth + 1);
				Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
				i = skipWs(b, next);
				if (b[i] === 0x2c) {
					i = skipWs(b, i + 1);
					continue;
				}
				if (b[i] === 0x7d) return [out, i + 1];
				throw new JsonError("expected , or }");
			}
		}
		default:
			if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) {
				const end = scanNumber(b, i);
				return [Number(new TextDecoder().decode(b.subarray(i, end))), end];
			}
			throw new JsonError("expected a value");
	}
}

/** A whole document as `serde_json::from_slice::<Value>` reads it (trailing whitespace only). */
export function parseDocument(b: Uint8Array): unknown {
	const [value, end] = parseValue(b, 0, 0);
	if (skipWs(b, end) !== b.length) throw new JsonError("trailing characters");
	return value;
}

/** A raw JSON value: the bytes of one value, as serde_json's `RawValue` borrows them. */
export interface Raw {
	bytes: Uint8Array;
	start: number;
	end: number;
}

/**
 * Read an object like a serde visitor over the given names: each known name may appear once
 * (`onDuplicate` decides the error, raised before its value is read), its value is read by
 * `readKnown`; other names are skipped unchecked. Throws JsonError when the text is not a JSON
 * object (serde_json's `deserialize_map`: the object itself is one level of nesting).
 */
export function readObject<T>(
	b: Uint8Array,
	names: readonly string[],
	onDuplicate: (name: string) => never,
	readKnown: (b: Uint8Array, i: number) => [T, number],
	onUnknown?: (name: string) => void,
): Map<string, T> {
	const out = new Map<string, T>();
	let i = skipWs(b, 0);
	if (b[i] !== 0x7b) throw new JsonError("not an object");
	i = skipWs(b, i + 1);
	if (b[i] !== 0x7d) {
		for (;;) {
			if (b[i] !== 0x22) throw new JsonError("key must be a string");
			const keyEnd = scanString(b, i);
			const key = decodeString(b, i, keyEnd);
			i = skipWs(b, keyEnd);
			if (b[i] !== 0x3a) throw new JsonError("expected :");
			i = skipWs(b, i + 1);
			if (names.includes(key)) {
				if (out.has(key)) onDuplicate(key);
				const [value, end] = readKnown(b, i);
				out.set(key, value);
				i = end;
			} else {
				onUnknown?.(key);
				i = skipValue(b, i);
			}
			i = skipWs(b, i);
			if (b[i] === 0x2c) {
				i = skipWs(b, i + 1);
				continue;
			}
			if (b[i] === 0x7d) break;
			throw new JsonError("expected , or }");
		}
	}
	if (skipWs(b, i + 1) !== b.length) throw new JsonError("trailing characters");
	return out;
}

/** A value kept raw, UTF-8 checked, as serde_json's borrowed `RawValue`. */
export function readRaw(b: Uint8Array, i: number): [Raw, number] {
	const end = skipValue(b, i);
	try {
		fatalUtf8.decode(b.subarray(i, end));
	} catch {
		throw new JsonError("invalid UTF-8");
	}
	return [{ bytes: b, start: i, end }, end];
}

/**
 * A claim value as the Rust crate's one-pass `Json` visitor classifies it: a string, an unsigned
 * 64-bit integer, a bool, an array of strings, or something else (null, negative or fractional
 * numbers, objects, mixed arrays). Strings anywhere in it are strict; object members are skipped
 * (names strict, values unchecked); nesting is limited as serde_json limits it.
 */
export type ClaimValue =
	| { t: "str"; v: string }
	| { t: "uint"; v: bigint }
	| { t: "bool"; v: boolean }
	| { t: "strings"; v: string[] }
	| { t: "other" };

const U64_MAX = 0xffffffffffffffffn;

export function readClaimValue(b: Uint8Array, i: number, depth = 1): [ClaimValue, number] {
	i = skipWs(b, i);
	const c = b[i];
	switch (c) {
		case 0x6e:
			return [{ t: "other" }, scanLiteral(b, i, "null")];
		case 0x74:
			return [{ t: "bool", v: true }, scanLiteral(b, i, "true")];
		case 0x66:
			return [{ t: "bool", v: false }, scanLiteral(b, i, "false")];
		case 0x22: {
			const end = scanString(b, i);
			return [{ t: "str", v: decodeString(b, i, end) }, end];
		}
		case 0x5b: {
			if (depth + 1 >= MAX_DEPTH) throw new JsonError("recursion limit exceeded");
			const strings: string[] = [];
			let all = true;
			i = skipWs(b, i + 1);
			if (b[i] === 0x5d) return [{ t: "strings", v: strings }, i + 1];
			for (;;) {
				const [v, next] = readClaimValue(b, i, depth + 1);
				if (v.t === "str") strings.push(v.v);
				else all = false;
				i = skipWs(b, next);
				if (b[i] === 0x2c) {
					i++;
					continue;
				}
				if (b[i] === 0x5d) return [all ? { t: "strings", v: strings } : { t: "other" }, i + 1];
				throw new JsonError("expected , or ]");
			}
		}
		case 0x7b: {
			if (depth + 1 >= MAX_DEPTH) throw new JsonError("recursion limit exceeded");
			i = skipWs(b, i + 1);
			if (b[i] === 0x7d) return [{ t: "other" }, i + 1];
			for (;;) {
				if (b[i] !== 0x22) throw new JsonError("key must be a string");
				const keyEnd = scanString(b, i);
				decodeString(b, i, keyEnd);
				i = skipWs(b, keyEnd);
				if (b[i] !== 0x3a) throw new JsonError("expected :");
				i = skipWs(b, skipValue(b, i + 1));
				if (b[i] === 0x2c) {
					i = skipWs(b, i + 1);
					continue;
				}
				if (b[i] === 0x7d) return [{ t: "other" }, i + 1];
				throw new JsonError("expected , or }");
			}
		}
		default: {
			if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) {
				const end = scanNumber(b, i);
				const text = new TextDecoder().decode(b.subarray(i, end));
				// serde_json: a plain integer is u64 (or f64 past u64::MAX); `-...`, fractions and exponents are not u64.
				if (/^(0|[1-9][0-9]*)$/.test(text)) {
					const v = BigInt(text);
					if (v <= U64_MAX) return [{ t: "uint", v }, end];
				}
				return [{ t: "other" }, end];
			}
			throw new JsonError("expected a value");
		}
	}
}

/** The first byte of a raw value. */
export function rawFirst(raw: Raw): number {
	return raw.bytes[raw.start];
}

/** A raw value as a string, or undefined when it is not a (valid) JSON string. */
export function rawString(raw: Raw): string | undefined {
	if (rawFirst(raw) !== 0x22) return undefined;
	try {
		return decodeString(raw.bytes, raw.start, raw.end);
	} catch {
		return undefined;
	}
}

