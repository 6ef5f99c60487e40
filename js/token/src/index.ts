/**
 * MoQ tokens: JWK keys, JWT signing and verification, and path-scoped claims.
 *
 * The same rules, checks, order of checks and error codes as the Rust `moq-token` crate; both are
 * tested against one shared vector corpus. Runs in Node >= 20 and in browsers (WebCrypto + jose).
 *
 * ```ts
 * import { generate, sign, verify, authorize } from "@moq/token";
 * const key = await generate("HS256");
 * const token = await sign(key, { root: "room/123", publish: ["alice"], subscribe: [""] });
 * const claims = await verify(key, token);
 * const session = authorize(claims, "/room/123");
 * session.canPublish("alice/camera"); // true
 * ```
 */

export { ALGORITHMS, type Algorithm } from "./algorithm.js";
export { type Claims, type ClaimsFormat, type ClaimsInput, type PrefixList, parseClaims } from "./claims.js";
export { ERROR_CODES, type ErrorCode, TokenError } from "./error.js";
export { MAX_TOKEN_LEN } from "./jws.js";
export {
	type ExportOptions,
	Key,
	type KeyInput,
	type KeyOps,
	MAX_KID_LEN,
	type SignOptions,
	type Verifier,
	type VerifyOptions,
	exportKey,
	generate,
	isValidKid,
	load,
	loadPublic,
	sign,
	signPayload,
	toJwk,
	toPublic,
	verify,
} from "./key.js";
export { Path } from "./path.js";
export { type Permissions, authorize } from "./permissions.js";
export type { Scope } from "./scope.js";
export { KeySet } from "./set.js";
