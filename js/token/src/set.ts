import type { Claims, ClaimsInput } from "./claims.js";
import { fail, keyError } from "./error.js";
import { parseJws } from "./jws.js";
import {
	Key,
	type SignOptions,
	type VerifyOptions,
	isValidKid,
	jwkValue,
	load,
	sign,
	toJwk,
	toPublic,
	verifyJws,
} from "./key.js";

/**
 * A set of keys, as in a JWKS document `{"keys": [...]}` (RFC 7517 §5). Verification picks the
 * key named by the token's `kid`; a token without `kid` is accepted only when the set has exactly
 * one verify key. Signing uses the first key with private material and the `sign` operation.
 */
export class KeySet {
	/** The keys, in order. */
	readonly keys: readonly Key[];

	/** A set of these keys. Key ids must be unique (`key_error`). */
	constructor(keys: Key[]) {
		keys.forEach((key, i) => {
			if (key.kid !== undefined && keys.slice(0, i).some((k) => k.kid === key.kid)) {
				keyError(`invalid field "kid": ${key.kid} appears twice in the key set`);
			}
		});
		this.keys = Object.freeze([...keys]);
	}

	/** Parse a JWKS (`{"keys": [...]}`): an object, JSON text, or base64url of JSON. */
	static async parse(input: string | object): Promise<KeySet> {
		const value = jwkValue(input) as Record<string, unknown> | null;
		const keys =
			typeof value === "object" && value !== null && !Array.isArray(value) && Object.hasOwn(value, "keys")
				? value.keys
				: undefined;
		if (!Array.isArray(keys)) {
			keyError('not a JWK (expected JSON or base64url-encoded JSON): a key set is a JSON object with a "keys" array');
		}
		const loaded: Key[] = [];
		for (const jwk of keys) loaded.push(await load(jwk as object));
		return new KeySet(loaded);
	}

	/** The key with this id. */
	find(kid: string): Key | undefined {
		return this.keys.find((k) => k.kid !== undefined && k.kid === kid);
	}

	/** The public halves of every key (`key_error` if the set holds an HMAC key). */
	async toPublic(): Promise<KeySet> {
		const out: Key[] = [];
		for (const key of this.keys) out.push(await toPublic(key));
		return new KeySet(out);
	}

	/** The set as a JWKS object (private fields included; see {@link KeySet.toPublic}). */
	toJwks(): { keys: Record<string, unknown>[] } {
		return { keys: this.keys.map(toJwk) };
	}

	/** Sign with the first key that has private material and the `sign` operation. */
	sign(claims: ClaimsInput, options: SignOptions = {}): Promise<string> {
		const key = this.keys.find((k) => k.canSign);
		if (!key) keyError("the key set has no key with private material and the sign operation");
		return sign(key, claims, options);
	}

	/** Verify with the key named by the token's `kid` (see {@link verify}). */
	async verify(token: string, options: VerifyOptions = {}): Promise<Claims> {
		const jws = parseJws(token);
		let key: Key;
		if (jws.kid !== undefined) {
			if (!isValidKid(jws.kid)) {
				fail("unknown_kid", "no key with id (not a valid kid): add the key to the key set, or sign with a known key");
			}
			const found = this.find(jws.kid);
			if (!found) {
				fail("unknown_kid", `no key with id ${jws.kid}: add the key to the key set, or sign with a known key`);
			}
			key = found;
		} else {
			const verifiers = this.keys.filter((k) => k.keyOps.verify);
			if (verifiers.length === 0) keyError('missing field "keys"');
			if (verifiers.length > 1) {
				fail("missing_kid", "token has no kid and the key set has several keys: sign with a key that has an id");
			}
			key = verifiers[0];
		}
		return verifyJws(key, jws, options);
	}
}
