import { CompactSign, exportJWK, generateKeyPair, importJWK } from "jose";
import {
	ALGORITHMS,
	type Algorithm,
	type Family,
	curve,
	family,
	hash,
	keyLen,
	parseAlgorithm,
	signParams,
} from "./algorithm.js";
import { decodeLenient, decodeStrict, encode } from "./base64url.js";
import {
	type Claims,
	type ClaimsFormat,
	type ClaimsInput,
	checkFormat,
	claimsToJson,
	normalizeInput,
	parseClaimsExact,
	rustTrim,
	validateClaims,
} from "./claims.js";
import { TokenError, fail, keyError } from "./error.js";
import { JsonError, parseDocument } from "./json.js";
import { type Jws, parseJws } from "./jws.js";
import { type Scope, checkScope, scopeFromJson, scopeToJson, sortKeys } from "./scope.js";

/** What a key may be used for (`key_ops`). */
export interface KeyOps {
	sign: boolean;
	verify: boolean;
}

/**
 * A key, or a promise of one: what {@link load} returns can be passed on without `await`
 * (`const key = load(file); await sign(key, claims)`).
 */
export type KeyInput = Key | PromiseLike<Key>;

/** Options for verifying a token. */
export interface VerifyOptions {
	/** The time of verification in unix seconds; default: the system clock. */
	now?: number;
	/** Seconds of clock skew tolerated on `exp` and `nbf` (default 0). */
	leeway?: number;
}

/** Options for signing claims. */
export interface SignOptions {
	/** `pub-sub` (default): `pub`/`sub` comma-joined strings. `put-get`: upstream's `put`/`get` arrays. `auto`: upstream's rule, `put`/`get` when every grant is a subtree, else `publish`/`subscribe` patterns. */
	format?: ClaimsFormat;
}

/** How `exportKey` writes a key: base64url of the compact JSON (the key file format, default), or pretty JSON. */
export interface ExportOptions {
	format?: "base64url" | "json";
}

/** The longest accepted key id. */
export const MAX_KID_LEN = 128;

/** Whether `kid` is a well-formed key id: 1..=128 characters of `[A-Za-z0-9_-]`. */
export function isValidKid(kid: string): boolean {
	return typeof kid === "string" && /^[A-Za-z0-9_-]{1,128}$/.test(kid);
}

type RsaPrivate = Record<"d" | "p" | "q" | "dp" | "dq" | "qi", Uint8Array>;

type Material =
	| { kty: "oct"; k: Uint8Array }
	| { kty: "RSA"; n: Uint8Array; e: Uint8Array; priv?: RsaPrivate }
	| { kty: "EC"; x: Uint8Array; y: Uint8Array; d?: Uint8Array }
	| { kty: "OKP"; x: Uint8Array; d?: Uint8Array };

const RSA_PRIVATE_FIELDS = ["d", "p", "q", "dp", "dq", "qi"] as const;
const MIN_RSA_BYTES = 256;
const MAX_RSA_BITS = 8192;
const MIN_HMAC_BYTES = 32;

/**
 * A validated key, ready to sign and/or verify. Build one with {@link load}, {@link generate} or
 * {@link loadPublic}.
 *
 * The algorithm is pinned by the key: a token is only ever verified under the key's own
 * algorithm, never one named by the token. Secrets are kept in private fields: they never appear
 * in `console.log`, `JSON.stringify` or error messages; only {@link exportKey} writes them.
 */
export class Key {
	/** The algorithm. */
	readonly alg: Algorithm;
	/** The key id, if any. */
	readonly kid: string | undefined;
	/** The allowed operations. */
	readonly keyOps: Readonly<KeyOps>;
	/** The scope (a ceiling on what tokens of this key may grant), if any. */
	readonly scope: Readonly<Scope> | undefined;
	/** The RFC 7638 thumbprint (base64url SHA-256) of the key's required public members. */
	readonly thumbprint: string;

	readonly #material: Material;
	readonly #verifier: CryptoKey;
	readonly #signer: CryptoKey | Uint8Array | undefined;

	private constructor(
		alg: Algorithm,
		kid: string | undefined,
		ops: KeyOps,
		scope: Scope | undefined,
		material: Material,
		thumbprint: string,
		verifier: CryptoKey,
		signer: CryptoKey | Uint8Array | undefined,
	) {
		this.alg = alg;
		this.kid = kid;
		this.keyOps = Object.freeze({ ...ops });
		this.scope = scope
			? Object.freeze({ root: scope.root, publish: [...scope.publish], subscribe: [...scope.subscribe] })
			: undefined;
		this.thumbprint = thumbprint;
		this.#material = material;
		this.#verifier = verifier;
		this.#signer = signer;
		Object.freeze(this);
	}

	/** @internal Only `build` makes keys, from checked material. */
	static _create(
		alg: Algorithm,
		kid: string | undefined,
		ops: KeyOps,
		scope: Scope | undefined,
		material: Material,
		thumbprint: string,
		verifier: CryptoKey,
		signer: CryptoKey | Uint8Array | undefined,
	): Key {
		return new Key(alg, kid, ops, scope, material, thumbprint, verifier, signer);
	}

	/** Whether the key holds private material (HMAC keys always do). */
	get isPrivate(): boolean {
		return hasPrivate(this.#material);
	}

	/** Whether this key can sign: private material and the `sign` operation. */
	get canSign(): boolean {
		return this.keyOps.sign && this.#signer !== undefined;
	}

	/** Sign claims (see {@link sign}). */
	sign(claims: ClaimsInput, options: SignOptions = {}): Promise<string> {
		return sign(this, claims, options);
	}

	/** Verify a token (see {@link verify}). */
	verify(token: string, options: VerifyOptions = {}): Promise<Claims> {
		return verify(this, token, options);
	}

	/** A description without secrets (what `JSON.stringify(key)` writes). */
	toJSON(): Record<string, unknown> {
		return {
			alg: this.alg,
			kid: this.kid,
			key_ops: opsNames(this.keyOps),
			private: this.isPrivate,
			scope: this.scope,
		};
	}

	toString(): string {
		return `Key(${this.alg}${this.kid ? `, kid ${this.kid}` : ""}${this.isPrivate ? ", private" : ", public"})`;
	}

	[Symbol.for("nodejs.util.inspect.custom")](): string {
		return this.toString();
	}

	/** @internal */
	static material(key: Key): Material {
		return key.#material;
	}

	/** @internal */
	static verifier(key: Key): CryptoKey {
		return key.#verifier;
	}

	/** @internal */
	static signer(key: Key): CryptoKey | Uint8Array | undefined {
		return key.#signer;
	}
}

function opsNames(ops: KeyOps): string[] {
	const out: string[] = [];
	if (ops.sign) out.push("sign");
	if (ops.verify) out.push("verify");
	return out;
}

function hasPrivate(m: Material): boolean {
	switch (m.kty) {
		case "oct":
			return true;
		case "RSA":
			return m.priv !== undefined;
		default:
			return m.d !== undefined;
	}
}

function subtle(): SubtleCrypto {
	const s = globalThis.crypto?.subtle;
	if (!s) keyError("WebCrypto (globalThis.crypto.subtle) is not available in this environment");
	return s;
}

function stripZeros(v: Uint8Array): Uint8Array {
	let i = 0;
	while (i < v.length - 1 && v[i] === 0) i++;
	return v.subarray(i);
}

// ---- parsing JWKs ----------------------------------------------------------------------------

/** JSON, or base64url (padded or not) of JSON, after trimming whitespace. */
function parseJwkText(text: string): unknown {
	const trimmed = rustTrim(text);
	if (trimmed.startsWith("{")) {
		try {
			return parseDocument(new TextEncoder().encode(trimmed));
		} catch (e) {
			if (e instanceof JsonError) keyError("not a JWK (expected JSON or base64url-encoded JSON): invalid JSON");
			throw e;
		}
	}
	const bytes = decodeLenient(trimmed);
	if (!bytes) keyError("not a JWK (expected JSON or base64url-encoded JSON): neither JSON nor base64url");
	try {
		return parseDocument(bytes);
	} catch (e) {
		if (e instanceof JsonError) {
			keyError("not a JWK (expected JSON or base64url-encoded JSON): base64url that does not hold JSON");
		}
		throw e;
	}
}

/** @internal Parse key-file text or take an object, as the Rust `parse_jwk_text`/`from_value` pair. */
export function jwkValue(input: string | object): unknown {
	if (typeof input === "string") return parseJwkText(input);
	if (input instanceof Uint8Array) return parseJwkText(new TextDecoder().decode(input));
	return input;
}

function isObject(v: unknown): v is Record<string, unknown> {
	return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A field is present when it is an own property whose value is not `undefined` (JSON has no `undefined`). */
function has(obj: Record<string, unknown>, field: string): boolean {
	return Object.hasOwn(obj, field) && obj[field] !== undefined;
}

function b64Field(obj: Record<string, unknown>, field: string): Uint8Array | undefined {
	if (!has(obj, field)) return undefined;
	const v = obj[field];
	if (typeof v !== "string") keyError(`invalid field "${field}": must be a base64url string`);
	const bytes = decodeLenient(v);
	if (!bytes) keyError(`invalid field "${field}": not base64url`);
	return bytes;
}

function required(obj: Record<string, unknown>, field: string): Uint8Array {
	const v = b64Field(obj, field);
	if (!v) keyError(`missing field "${field}"`);
	return v;
}

function exact(field: string, bytes: Uint8Array, len: number): Uint8Array {
	if (bytes.length !== len) keyError(`invalid field "${field}": must be ${len} bytes, found ${bytes.length}`);
	return bytes;
}

function materialFromJwk(alg: Algorithm, obj: Record<string, unknown>): Material {
	let kty = "oct"; // keys written before kty existed
	if (has(obj, "kty")) {
		if (typeof obj.kty !== "string") keyError('invalid field "kty": must be a string');
		kty = obj.kty;
	}
	const expected: Family = family(alg);
	if (kty !== expected) {
		keyError(`field "kty": ${alg} needs kty ${expected}, found ${JSON.stringify(kty)}`);
	}
	const crv = curve(alg);
	if (crv !== undefined) {
		if (!has(obj, "crv")) keyError('missing field "crv"');
		if (obj.crv !== crv) keyError(`field "crv": ${alg} needs curve ${crv}`);
	}
	switch (expected) {
		case "oct": {
			const k = required(obj, "k");
			if (k.length < MIN_HMAC_BYTES) {
				keyError(`field "k": the secret is ${k.length} bytes; HMAC keys need at least 32 (generate a new key)`);
			}
			return { kty: "oct", k };
		}
		case "RSA": {
			if (has(obj, "oth")) keyError('invalid field "oth": multi-prime RSA keys are not supported');
			const n = stripZeros(required(obj, "n"));
			const e = stripZeros(required(obj, "e"));
			if (n.length < MIN_RSA_BYTES) {
				keyError(`invalid field "n": RSA keys need at least 2048 bits, this one has ${n.length * 8}`);
			}
			const present = RSA_PRIVATE_FIELDS.filter((f) => has(obj, f)).length;
			if (present === 0) return { kty: "RSA", n, e };
			if (present !== 6) {
				keyError(`missing field "${RSA_PRIVATE_FIELDS.find((f) => !has(obj, f)) ?? "d"}"`);
			}
			const priv = {} as RsaPrivate;
			for (const f of RSA_PRIVATE_FIELDS) priv[f] = stripZeros(required(obj, f));
			return { kty: "RSA", n, e, priv };
		}
		case "EC": {
			const len = keyLen(alg);
			const x = exact("x", required(obj, "x"), len);
			const y = exact("y", required(obj, "y"), len);
			const d = b64Field(obj, "d");
			return d ? { kty: "EC", x, y, d: exact("d", d, len) } : { kty: "EC", x, y };
		}
		case "OKP": {
			const x = exact("x", required(obj, "x"), 32);
			const d = b64Field(obj, "d");
			return d ? { kty: "OKP", x, d: exact("d", d, 32) } : { kty: "OKP", x };
		}
	}
}

/** The material as JWK fields (with `kty` and `crv`). */
function materialJwk(alg: Algorithm, m: Material, withPrivate: boolean): Record<string, string> {
	const out: Record<string, string> = { kty: m.kty };
	const crv = curve(alg);
	if (crv) out.crv = crv;
	switch (m.kty) {
		case "oct":
			out.k = encode(m.k);
			break;
		case "RSA":
			out.n = encode(m.n);
			out.e = encode(m.e);
			if (withPrivate && m.priv) for (const f of RSA_PRIVATE_FIELDS) out[f] = encode(m.priv[f]);
			break;
		case "EC":
			out.x = encode(m.x);
			out.y = encode(m.y);
			if (withPrivate && m.d) out.d = encode(m.d);
			break;
		case "OKP":
			out.x = encode(m.x);
			if (withPrivate && m.d) out.d = encode(m.d);
			break;
	}
	return out;
}

function publicMaterial(m: Material): Material | undefined {
	switch (m.kty) {
		case "oct":
			return undefined;
		case "RSA":
			return { kty: "RSA", n: m.n, e: m.e };
		case "EC":
			return { kty: "EC", x: m.x, y: m.y };
		case "OKP":
			return { kty: "OKP", x: m.x };
	}
}

/** The RFC 7638 thumbprint input: required members only, lexicographic order, no spaces. */
function thumbprintInput(alg: Algorithm, m: Material): string {
	switch (m.kty) {
		case "oct":
			return `{"k":"${encode(m.k)}","kty":"oct"}`;
		case "RSA":
			return `{"e":"${encode(m.e)}","kty":"RSA","n":"${encode(m.n)}"}`;
		case "EC":
			return `{"crv":"${curve(alg)}","kty":"EC","x":"${encode(m.x)}","y":"${encode(m.y)}"}`;
		case "OKP":
			return `{"crv":"Ed25519","kty":"OKP","x":"${encode(m.x)}"}`;
	}
}

function rsaSizeOk(n: Uint8Array): boolean {
	const bits = bitLength(n);
	return bits >= 2048 && bits <= MAX_RSA_BITS;
}

function bitLength(v: Uint8Array): number {
	if (v.length === 0) return 0;
	return (v.length - 1) * 8 + (32 - Math.clz32(v[0]));
}

async function build(
	alg: Algorithm,
	kid: string | undefined,
	ops: KeyOps,
	scope: Scope | undefined,
	material: Material,
): Promise<Key> {
	const s = subtle();
	const rejected = (e: unknown): never =>
		keyError(`the key material was rejected: ${e instanceof Error ? e.message : String(e)}`);
	let verifier: CryptoKey;
	let signer: CryptoKey | Uint8Array | undefined;
	if (material.kty === "oct") {
		try {
			verifier = await s.importKey("raw", material.k as BufferSource, { name: "HMAC", hash: hash(alg) }, false, ["sign", "verify"]);
		} catch (e) {
			return rejected(e);
		}
		signer = material.k;
	} else {
		// As aws-lc in the Rust crate: a private RSA key outside 2048..=8192 bits is refused at load;
		// a public one loads, and its signatures never verify (see verifyJws).
		if (material.kty === "RSA" && material.priv && !rsaSizeOk(material.n)) {
			keyError(`the key material was rejected: RSA keys must have 2048 to ${MAX_RSA_BITS} bits`);
		}
		try {
			verifier = (await importJWK(materialJwk(alg, publicMaterial(material)!, false), alg)) as CryptoKey;
		} catch (e) {
			return rejected(e);
		}
		if (hasPrivate(material)) {
			try {
				signer = (await importJWK(materialJwk(alg, material, true), alg)) as CryptoKey;
			} catch (e) {
				return rejected(e);
			}
			// The backend may import a private key that does not belong to the public one; the
			// Rust crate refuses such a pair at load, so check that a signature verifies.
			const probe = new TextEncoder().encode("moq-token key pair check");
			let ok = false;
			try {
				const sig = new Uint8Array(await s.sign(signParams(alg), signer, probe));
				ok = await s.verify(signParams(alg), verifier, sig, probe);
			} catch {
				ok = false;
			}
			if (!ok) keyError("the key material was rejected: the private key does not match the public key");
		}
	}
	const digest = new Uint8Array(await s.digest("SHA-256", new TextEncoder().encode(thumbprintInput(alg, material))));
	return Key._create(alg, kid, ops, scope, material, encode(digest), verifier, signer);
}

function keyFromObject(value: unknown): Promise<Key> {
	if (!isObject(value)) keyError("not a JWK (expected JSON or base64url-encoded JSON): a JWK must be a JSON object");
	const obj = value;
	if (!has(obj, "alg")) keyError('missing field "alg"');
	if (typeof obj.alg !== "string") keyError('invalid field "alg": must be a string');
	const alg = parseAlgorithm(obj.alg);
	let ops: KeyOps = { sign: true, verify: true };
	if (has(obj, "key_ops")) {
		const items = obj.key_ops;
		if (!Array.isArray(items)) keyError('invalid field "key_ops": must be an array');
		ops = { sign: false, verify: false };
		for (const item of items) {
			if (item === "sign") ops.sign = true;
			else if (item === "verify") ops.verify = true;
			else keyError('invalid field "key_ops": only "sign" and "verify" are accepted');
		}
		if (!ops.sign && !ops.verify) keyError('invalid field "key_ops": is empty: the key could do nothing');
	}
	let kid: string | undefined;
	if (has(obj, "kid")) {
		if (typeof obj.kid !== "string") keyError('invalid field "kid": must be a string');
		if (!isValidKid(obj.kid)) {
			keyError(`invalid field "kid": must be 1 to ${MAX_KID_LEN} characters of A-Z a-z 0-9 _ -`);
		}
		kid = obj.kid;
	}
	const scope = has(obj, "scope") ? scopeFromJson(obj.scope) : undefined;
	const material = materialFromJwk(alg, obj);
	return build(alg, kid, ops, scope, material);
}

// ---- public API ------------------------------------------------------------------------------

/**
 * Load a key: a JWK object, or key-file text (JSON, or base64url of JSON; surrounding whitespace
 * ignored). Errors: `key_error` naming the field, or `unsupported_algorithm` for a bad `alg`.
 *
 * The key is checked with WebCrypto, which is asynchronous, so this returns a promise. `sign`,
 * `verify`, `signPayload` and `toPublic` take the promise as well as the key: `await` it to read
 * `alg` or `kid`, or to see a bad key file at load rather than at the first use.
 */
export async function load(input: string | object): Promise<Key> {
	return keyFromObject(jwkValue(input));
}

/** Load a key and return its public half (verify-only). An HMAC (`oct`) key has none: `key_error`. */
export async function loadPublic(input: string | object): Promise<Key> {
	return toPublic(await load(input));
}

/** The public half: private fields dropped, `kid` and scope kept, `key_ops = ["verify"]`. `key_error` for HMAC keys. */
export async function toPublic(input: KeyInput): Promise<Key> {
	const key = await keyOf(input, "toPublic");
	const pub = publicMaterial(Key.material(key));
	if (!pub) keyError("an HMAC (oct) key has no public half; share it only with verifiers you trust");
	return build(key.alg, key.kid, { sign: false, verify: true }, key.scope ? { ...key.scope } : undefined, pub);
}

/**
 * Generate a new key. Without an id, the kid is the RFC 7638 thumbprint of the public key, so the
 * same key always gets the same id. HMAC secrets are 32/48/64 bytes; RSA keys 2048-bit, e = 65537.
 */
export async function generate(alg: Algorithm, kid?: string): Promise<Key> {
	const algorithm = parseAlgorithm(alg);
	if (kid !== undefined && !isValidKid(kid)) {
		keyError(`invalid field "kid": must be 1 to ${MAX_KID_LEN} characters of A-Z a-z 0-9 _ -`);
	}
	let material: Material;
	if (family(algorithm) === "oct") {
		const k = new Uint8Array(keyLen(algorithm));
		globalThis.crypto.getRandomValues(k);
		material = { kty: "oct", k };
	} else {
		let jwk: Record<string, unknown>;
		try {
			const pair = await generateKeyPair(algorithm, { extractable: true, modulusLength: 2048 });
			jwk = (await exportJWK(pair.privateKey)) as Record<string, unknown>;
		} catch (e) {
			return keyError(`key generation failed: ${e instanceof Error ? e.message : String(e)}`);
		}
		jwk.alg = algorithm;
		material = materialFromJwk(algorithm, jwk);
	}
	const thumb = new Uint8Array(
		await subtle().digest("SHA-256", new TextEncoder().encode(thumbprintInput(algorithm, material))),
	);
	return build(algorithm, kid ?? encode(thumb), { sign: true, verify: true }, undefined, material);
}

/** The key as a JWK object, private fields included (keys in lexicographic order, as the Rust crate writes them). */
export function toJwk(key: Key): Record<string, unknown> {
	const obj: Record<string, unknown> = { alg: key.alg, key_ops: opsNames(key.keyOps) };
	if (key.kid !== undefined) obj.kid = key.kid;
	if (key.scope) obj.scope = scopeToJson(key.scope);
	Object.assign(obj, materialJwk(key.alg, Key.material(key), true));
	return sortKeys(obj);
}

/**
 * Write a key as a key file: base64url of its compact JSON (default, the format of docs/tokens.md#keys
 * that the CLI uses), or pretty JSON (`{format: "json"}`, the CLI's `--json`). Private material included.
 */
export function exportKey(key: Key, options: ExportOptions = {}): string {
	const format = options.format ?? "base64url";
	const jwk = toJwk(key);
	if (format === "json") return JSON.stringify(jwk, null, 2);
	if (format === "base64url") return encode(JSON.stringify(jwk));
	throw new TypeError(`unknown key format ${JSON.stringify(format)}: use "base64url" or "json"`);
}

function notAllowed(key: Key, op: "sign" | "verify"): never {
	fail("operation_not_allowed", `this key may not ${op}: its key_ops are ${JSON.stringify(opsNames(key.keyOps))}`);
}

/** The key behind a {@link KeyInput}; a `TypeError` for anything else. */
async function keyOf(input: KeyInput, what: string): Promise<Key> {
	const key = await input;
	if (!(key instanceof Key)) throw new TypeError(`${what}: the first argument must be a Key (see load/generate)`);
	return key;
}

/**
 * Sign claims with a key (or the promise `load` returns). The claims take the names of a token or
 * of {@link Claims} (see {@link ClaimsInput}): `root` or `path`; `pub`, `publish` or `put`; `sub`,
 * `subscribe` or `get`, each a list or a comma-separated string; `exp`/`iat`/`nbf` in unix seconds.
 * Refuses an unknown claim name or a time in milliseconds (`invalid_claim`), two spellings of one
 * claim (`ambiguous_claims`), useless claims (`useless_token`), claims beyond the key's scope
 * (`scope_exceeded`), a prefix the `pub`/`sub` strings cannot carry (`invalid_claim`), a verify-only
 * key (`operation_not_allowed`) and a public key (`key_error`). An `exp` in the past is allowed here
 * (verifying fails with `expired`).
 */
export async function sign(input: KeyInput, claims: ClaimsInput, options: SignOptions = {}): Promise<string> {
	const key = await keyOf(input, "sign");
	const format = options.format ?? "pub-sub";
	if (format !== "pub-sub" && format !== "put-get" && format !== "auto") {
		throw new TypeError(`unknown claims format ${JSON.stringify(format)}: use "pub-sub", "put-get" or "auto"`);
	}
	if (!key.keyOps.sign) notAllowed(key, "sign");
	const normalized = normalizeInput(claims);
	validateClaims(normalized);
	if (key.scope) checkScope(key.scope, normalized);
	checkFormat(normalized, format);
	return signPayload(key, new TextEncoder().encode(claimsToJson(normalized, format)));
}

/**
 * Sign an arbitrary JSON payload as a JWT with this key's header, without reading it as MoQ
 * claims (for JWTs that are not MoQ tokens).
 */
export async function signPayload(input: KeyInput, payload: Uint8Array): Promise<string> {
	const key = await keyOf(input, "signPayload");
	if (!key.keyOps.sign) notAllowed(key, "sign");
	const signer = Key.signer(key);
	if (!signer) keyError("this is a public key; signing needs the private key");
	const header: { alg: string; typ: string; kid?: string } = { alg: key.alg, typ: "JWT" };
	if (key.kid !== undefined) header.kid = key.kid;
	try {
		return await new CompactSign(payload).setProtectedHeader(header).sign(signer);
	} catch (e) {
		return keyError(`the key material was rejected: ${e instanceof Error ? e.message : String(e)}`);
	}
}

function unixNow(): bigint {
	return BigInt(Math.floor(Date.now() / 1000));
}

const U64_MAX = 0xffffffffffffffffn;

function seconds(name: string, v: number | undefined, fallback: () => bigint): bigint {
	if (v === undefined) return fallback();
	if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
		throw new TypeError(`${name} must be a non-negative integer number of seconds`);
	}
	return BigInt(v);
}

/** @internal Verify a parsed JWS with this key: ops, algorithm, signature, claims, time, usefulness, scope. */
export async function verifyJws(key: Key, jws: Jws, options: VerifyOptions): Promise<Claims> {
	if (!key.keyOps.verify) notAllowed(key, "verify");
	if (jws.alg !== key.alg) {
		fail("algorithm_mismatch", `token algorithm ${jws.alg} does not match the key's ${key.alg}`);
	}
	const signature = decodeStrict(jws.signature);
	if (!signature) fail("malformed", "malformed token: the signature is not base64url");
	const material = Key.material(key);
	let ok: boolean;
	try {
		ok = (material.kty !== "RSA" || rsaSizeOk(material.n)) && await subtle().verify(
			signParams(key.alg),
			Key.verifier(key),
			signature as BufferSource,
			new TextEncoder().encode(jws.signingInput),
		);
	} catch {
		ok = false;
	}
	if (!ok) fail("bad_signature", "bad signature: the token was not signed by this key, or was modified");
	const payload = decodeStrict(jws.payload);
	if (!payload) fail("malformed", "malformed token: the payload is not base64url");
	const parsed = parseClaimsExact(payload);

	const now = seconds("now", options.now, unixNow);
	const leeway = seconds("leeway", options.leeway, () => 0n);
	const sat = (a: bigint, b: bigint) => (a + b > U64_MAX ? U64_MAX : a + b);
	if (parsed.exp !== undefined && sat(parsed.exp, leeway) <= now) {
		fail("expired", `token expired at ${parsed.exp} (now ${now}): sign a new token`);
	}
	if (parsed.nbf !== undefined && parsed.nbf > sat(now, leeway)) {
		fail("not_yet_valid", `token is not valid before ${parsed.nbf} (now ${now})`);
	}
	validateClaims(parsed.claims);
	if (key.scope) checkScope(key.scope, parsed.claims);
	return parsed.claims;
}

/** @internal Verify with a single key (the token's `kid`, if any, must be the key's). */
export async function verifyWithKey(key: Key, token: string, options: VerifyOptions): Promise<Claims> {
	const jws = parseJws(token);
	if (jws.kid !== undefined) {
		if (!isValidKid(jws.kid)) fail("unknown_kid", "no key with id (not a valid kid): add the key to the key set, or sign with a known key");
		if (key.kid !== undefined && key.kid !== jws.kid) {
			fail("unknown_kid", `no key with id ${jws.kid}: add the key to the key set, or sign with a known key`);
		}
	}
	return verifyJws(key, jws, options);
}

/** Anything that can verify: a key, or a key set. */
export interface Verifier {
	verify(token: string, options?: VerifyOptions): Promise<Claims>;
}

/**
 * Verify a token with a key or a key set (or a promise of one, as `load` and `KeySet.parse` return),
 * as of `options.now` (default: the system clock) with `options.leeway` seconds of tolerance
 * (default 0). Returns the normalized claims, or throws a {@link TokenError} whose `code` is the
 * same as the Rust crate's for the same token.
 */
export async function verify(
	input: Key | Verifier | PromiseLike<Key | Verifier>,
	token: string,
	options: VerifyOptions = {},
): Promise<Claims> {
	const keyOrSet = await input;
	if (keyOrSet instanceof Key) return verifyWithKey(keyOrSet, token, options);
	if (keyOrSet && typeof (keyOrSet as Verifier).verify === "function") return keyOrSet.verify(token, options);
	throw new TypeError("verify: the first argument must be a Key or a KeySet");
}

export { ALGORITHMS, TokenError };
