// JWS compact serialization (RFC 7515 §3.1, §7.1): split, size limit, header checks.

import { type Algorithm, parseAlgorithm, printable } from "./algorithm.js";
import { decodeStrict } from "./base64url.js";
import { fail } from "./error.js";
import { JsonError, type Raw, parseDocument, parseValue, rawString, readObject, readRaw } from "./json.js";

/** Tokens larger than this many bytes are refused before any decoding (`too_large`). */
export const MAX_TOKEN_LEN = 8 * 1024;

/** @internal A token split into its parts, with the header decoded and checked. */
export interface Jws {
	alg: Algorithm;
	kid?: string;
	/** `header.payload`: what the signature covers. */
	signingInput: string;
	payload: string;
	signature: string;
}

function malformed(reason: string): never {
	fail("malformed", `malformed token: ${reason}`);
}

interface Header {
	alg?: string;
	kid?: string;
	crit?: string;
}

/** An `Option<String>` header field: `null` is absent, a string is a string, anything else is an error. */
function optionalString(raw: Raw | undefined): string | undefined {
	if (!raw || isNull(raw)) return undefined;
	const s = rawString(raw);
	if (s === undefined) throw new JsonError("expected a string");
	return s;
}

function isNull(raw: Raw): boolean {
	return raw.end - raw.start === 4 && raw.bytes[raw.start] === 0x6e;
}

/** The name reported for a `crit` value: its first element if that is a string, else "crit". */
function critName(value: unknown): string {
	const first = Array.isArray(value) ? value[0] : undefined;
	return printable(typeof first === "string" ? first : "crit");
}

/** Read the header as serde reads the Rust crate's `Header` struct (an object, or a sequence). */
function readHeader(bytes: Uint8Array): Header {
	let i = 0;
	while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
	if (bytes[i] === 0x5b) {
		// serde also deserializes a struct from a JSON array of its fields in order: [alg, kid, crit].
		const items = parseDocument(bytes) as unknown[];
		if (items.length === 0 || items.length > 3) throw new JsonError("invalid length");
		const opt = (v: unknown) => {
			if (v === null || v === undefined) return undefined;
			if (typeof v !== "string") throw new JsonError("expected a string");
			return v;
		};
		return {
			alg: opt(items[0]),
			kid: opt(items[1]),
			crit: items.length > 2 ? critName(items[2]) : undefined,
		};
	}
	const raw = readObject(
		bytes,
		["alg", "kid", "crit"],
		() => {
			throw new JsonError("duplicate field");
		},
		readRaw,
	);
	const header: Header = { alg: optionalString(raw.get("alg")), kid: optionalString(raw.get("kid")) };
	const crit = raw.get("crit");
	if (crit) {
		const [value] = parseValue(crit.bytes.subarray(crit.start, crit.end), 0, 1);
		header.crit = critName(value);
	}
	return header;
}

/** @internal Split and check a token. The payload is not decoded here: only after the signature. */
export function parseJws(token: string): Jws {
	if (typeof token !== "string") malformed("the token must be a string");
	const len = new TextEncoder().encode(token).length;
	if (len > MAX_TOKEN_LEN) {
		fail("too_large", `token is ${len} bytes, more than the ${MAX_TOKEN_LEN}-byte limit`);
	}
	const last = token.lastIndexOf(".");
	const first = token.indexOf(".");
	if (last < 0 || first === last) malformed("expected three dot-separated parts");
	const signingInput = token.slice(0, last);
	const signature = token.slice(last + 1);
	const headerPart = token.slice(0, first);
	const payload = token.slice(first + 1, last);
	if (payload.includes(".")) malformed("expected three dot-separated parts");
	const headerBytes = decodeStrict(headerPart);
	if (!headerBytes) malformed("the header is not base64url");
	let header: Header;
	try {
		header = readHeader(headerBytes);
	} catch (e) {
		if (e instanceof JsonError) malformed("the header is not a JSON object");
		throw e;
	}
	if (header.crit !== undefined) {
		fail(
			"unknown_crit",
			`token header marks ${JSON.stringify(header.crit)} critical, which this verifier does not implement`,
		);
	}
	if (header.alg === undefined) malformed("the header has no alg");
	const alg = parseAlgorithm(header.alg);
	const jws: Jws = { alg, signingInput, payload, signature };
	if (header.kid !== undefined) jws.kid = header.kid;
	return jws;
}
