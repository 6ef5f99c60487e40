/** The stable error codes of the token system, identical in Rust and TypeScript (docs/tokens.md#error-codes). */
export const ERROR_CODES = [
	"malformed",
	"too_large",
	"unsupported_algorithm",
	"algorithm_mismatch",
	"bad_signature",
	"missing_kid",
	"unknown_kid",
	"unknown_crit",
	"expired",
	"not_yet_valid",
	"invalid_claim",
	"ambiguous_claims",
	"useless_token",
	"scope_exceeded",
	"invalid_path",
	"root_mismatch",
	"no_access",
	"key_error",
	"operation_not_allowed",
] as const;

/** One of {@link ERROR_CODES}. Match on the code, not on the message text. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Every error this package throws on purpose. `code` is stable and shared with the Rust crate,
 * the CLI, the relay and the vector corpus; the message says what is wrong and never contains
 * secret material or token contents.
 */
export class TokenError extends Error {
	readonly code: ErrorCode;

	constructor(code: ErrorCode, message: string) {
		super(message);
		this.name = "TokenError";
		this.code = code;
	}
}

/** @internal */
export function fail(code: ErrorCode, message: string): never {
	throw new TokenError(code, message);
}

/** @internal A `key_error` (bad key file or key use): the message names the field. */
export function keyError(message: string): never {
	throw new TokenError("key_error", `key error: ${message}`);
}

/** @internal */
export function invalidClaim(claim: string, reason: string): never {
	throw new TokenError("invalid_claim", `invalid claim ${JSON.stringify(claim)}: ${reason}`);
}
