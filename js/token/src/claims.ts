import { TokenError, fail, invalidClaim } from "./error.js";
import { type ClaimValue, JsonError, readClaimValue, readObject } from "./json.js";
import { Path } from "./path.js";

/**
 * The claims of a MoQ token, normalized.
 *
 * `publish` and `subscribe` hold prefixes relative to `root`: `[]` grants nothing, `[""]` grants
 * everything under `root`.
 */
export interface Claims {
	/** Base path of everything the token allows (`root`); `""` is the top. */
	root: string;
	/** Publish prefixes relative to `root` (`pub`, or upstream's `put`). */
	publish: string[];
	/** Subscribe prefixes relative to `root` (`sub`, or upstream's `get`). */
	subscribe: string[];
	/** The bearer is a relay of this cluster (`cluster`). */
	cluster: boolean;
	/** Expiry, unix seconds (`exp`). */
	exp?: number;
	/** Issued-at, unix seconds (`iat`); informational. */
	iat?: number;
	/** Not-before, unix seconds (`nbf`); enforced. */
	nbf?: number;
	/** Token id (`jti`). */
	jti?: string;
}

/** What `sign` accepts: like {@link Claims}, with defaults (`root` `""`, no grants, `cluster` false). */
export interface ClaimsInput {
	root?: string;
	publish?: string[];
	subscribe?: string[];
	cluster?: boolean;
	exp?: number;
	iat?: number;
	nbf?: number;
	jti?: string;
}

/** How claims are written into a token: `pub`/`sub` comma-joined strings, or upstream's `put`/`get` arrays. */
export type ClaimsFormat = "pub-sub" | "put-get";

/** @internal Claims with the exact (64-bit) times, as parsed from a payload. */
export interface ParsedClaims {
	claims: Claims;
	exp?: bigint;
	nbf?: bigint;
}

const NAMES = ["root", "pub", "put", "sub", "get", "cluster", "exp", "iat", "nbf", "jti"] as const;

/**
 * Parse claims from a token payload (JSON text or bytes), exactly as the Rust crate does:
 * every known claim is type-checked (`null` or a float where an integer is required is an error,
 * never "absent"), a claim name that appears twice is `invalid_claim`, `pub`+`put` or `sub`+`get`
 * is `ambiguous_claims`, unknown claims are ignored. Does not check usefulness or time.
 */
export function parseClaims(payload: string | Uint8Array): Claims {
	return parseClaimsExact(typeof payload === "string" ? new TextEncoder().encode(payload) : payload).claims;
}

/** @internal */
export function parseClaimsExact(payload: Uint8Array): ParsedClaims {
	let raw: Map<string, ClaimValue>;
	try {
		raw = readObject(
			payload,
			NAMES,
			(name) => invalidClaim("(duplicate)", `duplicate claim ${JSON.stringify(name)}`),
			(b, i) => readClaimValue(b, i, 1),
		);
	} catch (e) {
		if (e instanceof TokenError) throw e;
		if (e instanceof JsonError) fail("malformed", "malformed token: the payload is not a JSON object");
		throw e;
	}
	if (raw.has("pub") && raw.has("put")) {
		fail("ambiguous_claims", "token has both pub and put claims; use one spelling");
	}
	if (raw.has("sub") && raw.has("get")) {
		fail("ambiguous_claims", "token has both sub and get claims; use one spelling");
	}

	const r = raw.get("root");
	const root = r ? Path.normalize(str("root", r)) : "";
	const list = (commaName: string, arrayName: string): string[] => {
		const comma = raw.get(commaName);
		if (comma) {
			if (comma.t !== "str") invalidClaim(commaName, "must be a comma-separated string");
			return commaList(commaName, comma.v);
		}
		const array = raw.get(arrayName);
		if (array) return stringOrArray(arrayName, array);
		return [];
	};
	const publish = list("pub", "put");
	const subscribe = list("sub", "get");
	let cluster = false;
	const c = raw.get("cluster");
	if (c) {
		if (c.t !== "bool") invalidClaim("cluster", "must be true or false");
		cluster = c.v;
	}
	const exp = seconds("exp", raw.get("exp"));
	const iat = seconds("iat", raw.get("iat"));
	const nbf = seconds("nbf", raw.get("nbf"));
	const j = raw.get("jti");
	const jti = j ? str("jti", j) : undefined;

	const claims: Claims = { root, publish, subscribe, cluster };
	if (exp !== undefined) claims.exp = Number(exp);
	if (iat !== undefined) claims.iat = Number(iat);
	if (nbf !== undefined) claims.nbf = Number(nbf);
	if (jti !== undefined) claims.jti = jti;
	return { claims, exp, nbf };
}

function str(claim: string, v: ClaimValue): string {
	if (v.t !== "str") invalidClaim(claim, "must be a string");
	return v.v;
}

function seconds(claim: string, v: ClaimValue | undefined): bigint | undefined {
	if (!v) return undefined;
	if (v.t !== "uint") invalidClaim(claim, "must be a non-negative integer number of unix seconds");
	return v.v;
}

/** Rust's `char::is_whitespace` (Unicode White_Space), which differs from JavaScript's `trim`. */
const RUST_WS = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;

/** @internal Rust's `str::trim`. */
export function rustTrim(s: string): string {
	const ws = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/gu;
	return s.replace(ws, "");
}

/** `pub`/`sub`: comma-separated prefixes; only the whole string `""` means everything. */
function commaList(claim: string, list: string): string[] {
	if (list === "") return [""];
	return list.split(",").map((element) => {
		if (element === "") {
			invalidClaim(claim, 'empty element in the list (only the whole string "" means everything)');
		}
		if (RUST_WS.test(element)) invalidClaim(claim, "whitespace around a list element");
		return Path.normalize(element);
	});
}

/** `put`/`get` (upstream): one path, or an array of paths. */
function stringOrArray(claim: string, v: ClaimValue): string[] {
	if (v.t === "str") return [Path.normalize(v.v)];
	if (v.t === "strings") return v.v.map((p) => Path.normalize(p));
	return invalidClaim(claim, "must be a string or an array of strings");
}

/** @internal A token that grants neither publish nor subscribe is useless, and refused. */
export function validateClaims(claims: Claims): void {
	if (claims.publish.length === 0 && claims.subscribe.length === 0) {
		fail("useless_token", "token grants neither publish nor subscribe: set pub and/or sub");
	}
}

function time(claim: string, v: unknown): number | undefined {
	if (v === undefined) return undefined;
	if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
		invalidClaim(claim, "must be a non-negative integer number of unix seconds");
	}
	return v;
}

function paths(claim: string, v: unknown): string[] {
	if (v === undefined) return [];
	if (!Array.isArray(v) || !v.every((p) => typeof p === "string")) {
		invalidClaim(claim, "must be an array of path strings");
	}
	return v.map((p: string) => Path.normalize(p));
}

/** @internal Normalize and type-check claims given to `sign`. */
export function normalizeInput(input: ClaimsInput): Claims {
	if (typeof input !== "object" || input === null) invalidClaim("(claims)", "must be an object");
	if (input.root !== undefined && typeof input.root !== "string") invalidClaim("root", "must be a string");
	if (input.cluster !== undefined && typeof input.cluster !== "boolean") {
		invalidClaim("cluster", "must be true or false");
	}
	if (input.jti !== undefined && typeof input.jti !== "string") invalidClaim("jti", "must be a string");
	const claims: Claims = {
		root: Path.normalize(input.root ?? ""),
		publish: paths("publish", input.publish),
		subscribe: paths("subscribe", input.subscribe),
		cluster: input.cluster ?? false,
	};
	const exp = time("exp", input.exp);
	const iat = time("iat", input.iat);
	const nbf = time("nbf", input.nbf);
	if (exp !== undefined) claims.exp = exp;
	if (iat !== undefined) claims.iat = iat;
	if (nbf !== undefined) claims.nbf = nbf;
	if (input.jti !== undefined) claims.jti = input.jti;
	return claims;
}

/** @internal The JSON payload of a token, as the Rust crate writes it. */
export function claimsToJson(claims: Claims, format: ClaimsFormat): string {
	const out: Record<string, unknown> = { root: claims.root };
	const joined = (list: string[]) => (list.includes("") ? "" : list.join(","));
	if (format === "put-get") {
		if (claims.publish.length > 0) out.put = claims.publish;
		if (claims.subscribe.length > 0) out.get = claims.subscribe;
	} else {
		if (claims.publish.length > 0) out.pub = joined(claims.publish);
		if (claims.subscribe.length > 0) out.sub = joined(claims.subscribe);
	}
	if (claims.cluster) out.cluster = true;
	if (claims.exp !== undefined) out.exp = claims.exp;
	if (claims.iat !== undefined) out.iat = claims.iat;
	if (claims.nbf !== undefined) out.nbf = claims.nbf;
	if (claims.jti !== undefined) out.jti = claims.jti;
	return JSON.stringify(out);
}
