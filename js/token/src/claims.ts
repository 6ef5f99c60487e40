import { TokenError, fail, invalidClaim } from "./error.js";
import { type ClaimValue, JsonError, readClaimValue, readObject } from "./json.js";
import { Path } from "./path.js";
import { asPrefix, canonical, subtree, union } from "./pattern.js";

/**
 * The claims of a MoQ token, normalized.
 *
 * `publish` and `subscribe` hold pattern unions relative to `root` (canonical texts, reduced, in
 * byte order): `[]` grants nothing, `["**"]` everything under `root`, `["alice/**"]` the subtree
 * `alice`, `["alice"]` exactly the broadcast `alice`. Prefix claims (`pub`/`sub`, `put`/`get`) are
 * read as subtrees.
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

/** A list of path prefixes as `sign` takes it: an array, or one comma-separated string as in a token. */
export type PrefixList = string | readonly string[];

/**
 * What `sign` accepts: the claim names of a token or the field names of {@link Claims}, with defaults
 * (`root` `""`, no grants, `cluster` false). Each claim has several spellings; give one of them
 * (two spellings of one claim are `ambiguous_claims`). Any other name is `invalid_claim`.
 *
 * - `root`, or `path` (the name older JavaScript examples use).
 * - publish prefixes: `pub` or `publish` (an array, or a comma-separated string as in a token:
 *   `"alice,bob"`; `""` or `[""]` is everything under `root`), or `put` (upstream's name: a string
 *   is one path).
 * - subscribe prefixes: `sub`, `subscribe` or `get`, likewise.
 * - `exp`, `iat`, `nbf`: whole unix **seconds**. A value of 1e11 or more is refused: it is milliseconds
 *   (`Date.now()`), not a date after the year 5000.
 */
export interface ClaimsInput {
	/** Base path of everything the token allows. */
	root?: string;
	/** Another spelling of `root`. */
	path?: string;
	/** Publish prefixes relative to `root`: an array, or a comma-separated string. */
	pub?: PrefixList;
	/** Another spelling of `pub`. */
	publish?: PrefixList;
	/** Upstream's spelling of `pub`: one path, or an array of paths. */
	put?: PrefixList;
	/** Subscribe prefixes relative to `root`: an array, or a comma-separated string. */
	sub?: PrefixList;
	/** Another spelling of `sub`. */
	subscribe?: PrefixList;
	/** Upstream's spelling of `sub`: one path, or an array of paths. */
	get?: PrefixList;
	/** The bearer is a relay of this cluster. */
	cluster?: boolean;
	/** Expiry, whole unix seconds (`Math.floor(Date.now() / 1000) + 3600`). */
	exp?: number;
	/** Issued-at, whole unix seconds. */
	iat?: number;
	/** Not-before, whole unix seconds. */
	nbf?: number;
	/** Token id. */
	jti?: string;
}

/** How claims are written into a token: `pub`/`sub` comma-joined strings, upstream's `put`/`get` arrays, or `auto` (upstream's rule: `put`/`get` when every grant is a subtree, else `publish`/`subscribe` patterns). */
export type ClaimsFormat = "pub-sub" | "put-get" | "auto";

/** @internal Claims with the exact (64-bit) times, as parsed from a payload. */
export interface ParsedClaims {
	claims: Claims;
	exp?: bigint;
	nbf?: bigint;
}

const NAMES = [
	"root",
	"pub",
	"put",
	"publish",
	"sub",
	"get",
	"subscribe",
	"cluster",
	"exp",
	"iat",
	"nbf",
	"jti",
	"iss",
] as const;

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
	let unknown: string | undefined;
	try {
		raw = readObject(
			payload,
			NAMES,
			(name) => invalidClaim("(duplicate)", `duplicate claim ${JSON.stringify(name)}`),
			(b, i) => readClaimValue(b, i, 1),
			(name) => {
				unknown ??= name;
			},
		);
	} catch (e) {
		if (e instanceof TokenError) throw e;
		if (e instanceof JsonError) fail("malformed", "malformed token: the payload is not a JSON object");
		throw e;
	}
	const prefixForm = raw.has("put") || raw.has("get");
	const patternForm = raw.has("publish") || raw.has("subscribe");
	const upstream = prefixForm || patternForm;
	if (prefixForm && patternForm) {
		fail("ambiguous_claims", "token has both put/get and publish/subscribe claims; use one format");
	}
	if (upstream && raw.has("pub")) {
		fail("ambiguous_claims", "token has both pub and put/publish claims; use one spelling");
	}
	if (upstream && unknown !== undefined) {
		invalidClaim(
			"(unknown)",
			`${JSON.stringify(unknown)} is not a claim of the put/get or publish/subscribe format, which refuses unknown claims`,
		);
	}

	const r = raw.get("root");
	const root = r ? Path.normalize(str("root", r)) : "";
	const list = (name: string, read: (name: string, v: ClaimValue) => string[]): string[] => {
		const v = raw.get(name);
		return v ? read(name, v) : [];
	};
	let publish: string[];
	let subscribe: string[];
	if (patternForm) {
		publish = list("publish", patternArray);
		subscribe = list("subscribe", patternArray);
	} else if (prefixForm) {
		// `sub` beside put/get is the registered subject claim: not a grant.
		publish = list("put", stringOrArray);
		subscribe = list("get", stringOrArray);
	} else {
		const comma = (name: string, v: ClaimValue) => {
			if (v.t !== "str") invalidClaim(name, "must be a comma-separated string");
			return commaList(name, v.v);
		};
		publish = list("pub", comma);
		subscribe = list("sub", comma);
	}
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
	// Upstream reads `jti` of any type and drops it; a string is kept for revocation.
	const jti = j ? (upstream ? (j.t === "str" ? j.v : undefined) : str("jti", j)) : undefined;

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

/** The subtrees of prefixes; a prefix with a `*` in a segment is refused (it would widen the grant). */
function subtrees(claim: string, prefixes: string[]): string[] {
	return union(
		prefixes.map((p) => {
			try {
				return subtree(p);
			} catch (e) {
				if (e instanceof TokenError && e.code === "invalid_claim") invalidClaim(claim, `a prefix cannot hold '*': ${e.message}`);
				throw e;
			}
		}),
	);
}

/** `pub`/`sub`: comma-separated prefixes; only the whole string `""` means everything. */
function commaList(claim: string, list: string): string[] {
	if (list === "") return ["**"];
	const prefixes = list.split(",").map((element) => {
		if (element === "") {
			invalidClaim(claim, 'empty element in the list (only the whole string "" means everything)');
		}
		if (RUST_WS.test(element)) invalidClaim(claim, "whitespace around a list element");
		return Path.normalize(element);
	});
	return subtrees(claim, prefixes);
}

/** `put`/`get` (upstream): one prefix, or an array of prefixes. */
function stringOrArray(claim: string, v: ClaimValue): string[] {
	if (v.t === "str") return subtrees(claim, [Path.normalize(v.v)]);
	if (v.t === "strings") return subtrees(claim, v.v.map((p) => Path.normalize(p)));
	return invalidClaim(claim, "must be a string or an array of strings");
}

/** `publish`/`subscribe` (upstream): an array of patterns. */
function patternArray(claim: string, v: ClaimValue): string[] {
	if (v.t !== "strings") invalidClaim(claim, "must be an array of pattern strings");
	return union(
		v.v.map((p) => {
			try {
				return canonical(p);
			} catch (e) {
				if (e instanceof TokenError) invalidClaim(claim, e.message);
				throw e;
			}
		}),
	);
}

/** @internal A token that grants neither publish nor subscribe is useless, and refused. */
export function validateClaims(claims: Claims): void {
	if (claims.publish.length === 0 && claims.subscribe.length === 0) {
		fail("useless_token", "token grants neither publish nor subscribe: set pub and/or sub");
	}
}

/** Times at or above this are milliseconds (`Date.now()` passed 1e11 in 1973), never seconds (year 5138). */
const MILLISECONDS = 1e11;

function time(claim: string, v: unknown): number | undefined {
	if (v === undefined) return undefined;
	if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
		invalidClaim(claim, "must be a non-negative integer number of unix seconds");
	}
	if (v >= MILLISECONDS) {
		invalidClaim(
			claim,
			`${v} is in milliseconds (as Date.now() counts); ${claim} takes unix seconds: Math.floor(Date.now() / 1000) + 3600 is an hour from now`,
		);
	}
	if (!Number.isSafeInteger(v)) {
		invalidClaim(claim, `${v} is not whole unix seconds: round it, e.g. Math.floor(Date.now() / 1000) + 3600`);
	}
	return v;
}

/** The spellings `sign` accepts, by the claim they mean. */
const SPELLINGS = {
	root: ["root", "path"],
	publish: ["pub", "publish", "put"],
	subscribe: ["sub", "subscribe", "get"],
	cluster: ["cluster"],
	exp: ["exp"],
	iat: ["iat"],
	nbf: ["nbf"],
	jti: ["jti"],
} as const;

type Field = keyof typeof SPELLINGS;

const FIELD_OF = new Map<string, Field>(
	(Object.entries(SPELLINGS) as [Field, readonly string[]][]).flatMap(([field, names]) =>
		names.map((name) => [name, field] as [string, Field]),
	),
);

/** Names other libraries and the Rust API use for the same claims. */
const MEANT: Record<string, string> = {
	expires: "exp",
	expiry: "exp",
	expiration: "exp",
	expires_at: "exp",
	expiresat: "exp",
	expires_in: "exp",
	expiresin: "exp",
	issued: "iat",
	issued_at: "iat",
	issuedat: "iat",
	not_before: "nbf",
	notbefore: "nbf",
	id: "jti",
	jwtid: "jti",
	jwt_id: "jti",
	publishers: "pub",
	subscribers: "sub",
	prefix: "root",
};

function distance(a: string, b: string): number {
	let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
	for (let i = 1; i <= a.length; i++) {
		const row = [i];
		for (let j = 1; j <= b.length; j++) {
			row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
		}
		prev = row;
	}
	return prev[b.length];
}

/** The accepted name an unknown one most likely meant, if any. */
function meant(name: string): string | undefined {
	const lower = name.toLowerCase();
	if (FIELD_OF.has(lower)) return lower;
	if (MEANT[lower]) return MEANT[lower];
	let best: string | undefined;
	let bestDistance = lower.length <= 4 ? 2 : 3;
	for (const known of FIELD_OF.keys()) {
		const d = distance(lower, known);
		if (d < bestDistance) {
			best = known;
			bestDistance = d;
		}
	}
	return best;
}

/** A name from the caller, safe to show: printable ASCII, at most 64 characters. */
function shown(name: string): string {
	const cut = name.length > 64 ? `${name.slice(0, 64)}...` : name;
	return JSON.stringify(cut).replace(/[^\x20-\x7e]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

const ACCEPTED = "root (or path), pub (or publish, put), sub (or subscribe, get), cluster, exp, iat, nbf, jti";

function unknownClaim(name: string): never {
	const guess = meant(name);
	const hint = guess ? `did you mean ${JSON.stringify(guess)}? ` : "";
	return fail("invalid_claim", `invalid claim ${shown(name)}: unknown claim name; ${hint}sign accepts ${ACCEPTED}`);
}

/**
 * The grants one spelling gives: `put`/`get` strings are one value (as in a token), the others comma
 * lists. A value with a `*` is a pattern (`alice/**`, `*\/screen`); any other a prefix, granted with
 * everything below it (`alice` is `alice/**`, `""` is `**`).
 */
function prefixes(name: string, v: unknown): string[] {
	let values: string[];
	if (typeof v === "string") {
		if (name === "put" || name === "get" || v === "") {
			values = [v];
		} else {
			values = v.split(",").map((element) => {
				if (element === "") {
					invalidClaim(name, 'empty element in the list (only the whole string "" means everything)');
				}
				if (RUST_WS.test(element)) invalidClaim(name, "whitespace around a list element");
				return element;
			});
		}
	} else {
		if (!Array.isArray(v) || !v.every((p) => typeof p === "string")) {
			invalidClaim(name, 'must be an array of path strings or a comma-separated string ("" = everything under root)');
		}
		values = v as string[];
	}
	return union(values.map((value) => (value.includes("*") ? canonical(value) : subtree(value))));
}

/** @internal Normalize and type-check claims given to `sign`. */
export function normalizeInput(input: ClaimsInput): Claims {
	if (typeof input !== "object" || input === null || Array.isArray(input)) {
		invalidClaim("(claims)", "must be an object");
	}
	// Which spelling gave each claim; `undefined` values count as absent.
	const given = new Map<Field, [string, unknown]>();
	for (const [name, value] of Object.entries(input)) {
		const field = FIELD_OF.get(name);
		if (!field) unknownClaim(name);
		if (value === undefined) continue;
		const other = given.get(field);
		if (other) {
			fail("ambiguous_claims", `claims give both ${JSON.stringify(other[0])} and ${JSON.stringify(name)}: use one spelling`);
		}
		given.set(field, [name, value]);
	}
	const value = (field: Field) => given.get(field)?.[1];

	const root = value("root");
	if (root !== undefined && typeof root !== "string") invalidClaim(given.get("root")![0], "must be a string");
	const cluster = value("cluster");
	if (cluster !== undefined && typeof cluster !== "boolean") invalidClaim("cluster", "must be true or false");
	const jti = value("jti");
	if (jti !== undefined && typeof jti !== "string") invalidClaim("jti", "must be a string");
	const list = (field: "publish" | "subscribe") => {
		const g = given.get(field);
		return g ? prefixes(g[0], g[1]) : [];
	};
	const claims: Claims = {
		root: Path.normalize((root as string | undefined) ?? ""),
		publish: list("publish"),
		subscribe: list("subscribe"),
		cluster: (cluster as boolean | undefined) ?? false,
	};
	const exp = time("exp", value("exp"));
	const iat = time("iat", value("iat"));
	const nbf = time("nbf", value("nbf"));
	if (exp !== undefined) claims.exp = exp;
	if (iat !== undefined) claims.iat = iat;
	if (nbf !== undefined) claims.nbf = nbf;
	if (jti !== undefined) claims.jti = jti as string;
	return claims;
}

/**
 * @internal Whether the claims can be written in `format` and read back as the same grant, as the
 * Rust crate's `Claims::check_format`: in the `pub`/`sub` strings a prefix holding a `,` would be read
 * back as two prefixes (a wider grant), and one with whitespace at either end is refused by every
 * reader. The `put`/`get` arrays carry any prefix.
 */
export function checkFormat(claims: Claims, format: ClaimsFormat): void {
	if (format === "auto") return;
	const names = format === "pub-sub" ? ["pub", "sub"] : ["put", "get"];
	for (const [claim, patterns] of [
		[names[0], claims.publish],
		[names[1], claims.subscribe],
	] as const) {
		if (prefixList(patterns) === undefined) {
			invalidClaim(
				claim,
				"a grant that is not a subtree (p/**) cannot be written as prefixes: sign in the auto format (publish/subscribe patterns)",
			);
		}
	}
	if (format === "put-get") return;
	for (const [claim, patterns] of [["pub", claims.publish], ["sub", claims.subscribe]] as const) {
		const paths = prefixList(patterns) ?? [];
		// A list holding the top path is written as "" (everything), whatever else it holds.
		if (paths.includes("")) continue;
		if (paths.some((p) => p.includes(",") || rustTrim(p) !== p)) {
			invalidClaim(
				claim,
				"a prefix with a ',' or with whitespace at either end cannot be written in a comma-separated list: sign in the put/get format",
			);
		}
	}
}

/** @internal The JSON payload of a token, as the Rust crate writes it. */
export function claimsToJson(claims: Claims, format: ClaimsFormat): string {
	const out: Record<string, unknown> = { root: claims.root };
	const publish = prefixList(claims.publish);
	const subscribe = prefixList(claims.subscribe);
	const joined = (list: string[] | undefined) => (list ?? []).includes("") ? "" : (list ?? []).join(",");
	if (format === "auto" && (publish === undefined || subscribe === undefined)) {
		if (claims.publish.length > 0) out.publish = claims.publish;
		if (claims.subscribe.length > 0) out.subscribe = claims.subscribe;
	} else if (format === "put-get" || format === "auto") {
		if (claims.publish.length > 0) out.put = publish;
		if (claims.subscribe.length > 0) out.get = subscribe;
	} else {
		if (claims.publish.length > 0) out.pub = joined(publish);
		if (claims.subscribe.length > 0) out.sub = joined(subscribe);
	}
	if (claims.cluster) out.cluster = true;
	if (claims.exp !== undefined) out.exp = claims.exp;
	if (claims.iat !== undefined) out.iat = claims.iat;
	if (claims.nbf !== undefined) out.nbf = claims.nbf;
	if (claims.jti !== undefined) out.jti = claims.jti;
	return JSON.stringify(out);
}

/** @internal The prefixes of a union of subtrees, or `undefined` when a member is not one. */
export function prefixList(patterns: string[]): string[] | undefined {
	const out: string[] = [];
	for (const p of patterns) {
		const prefix = asPrefix(p);
		if (prefix === undefined) return undefined;
		out.push(prefix);
	}
	return out;
}
