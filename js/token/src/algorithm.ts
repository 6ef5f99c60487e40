import { TokenError } from "./error.js";

/** The accepted JWS algorithms, exact case (docs/tokens.md#keys). */
export const ALGORITHMS = [
	"HS256",
	"HS384",
	"HS512",
	"RS256",
	"RS384",
	"RS512",
	"PS256",
	"PS384",
	"PS512",
	"ES256",
	"ES384",
	"ES512",
	"EdDSA",
] as const;

/** One of {@link ALGORITHMS}. */
export type Algorithm = (typeof ALGORITHMS)[number];

/** @internal */
export type Family = "oct" | "RSA" | "EC" | "OKP";

/**
 * @internal A token-supplied string made safe for an error message (and so for logs), as the Rust
 * crate does: printable ASCII only (others become `?`), at most 32 characters.
 */
export function printable(s: string): string {
	return Array.from(s)
		.slice(0, 32)
		.map((c) => (c >= " " && c <= "~" ? c : "?"))
		.join("");
}

/** @internal Parse an algorithm name; anything else is `unsupported_algorithm`, naming the accepted values. */
export function parseAlgorithm(s: string): Algorithm {
	if ((ALGORITHMS as readonly string[]).includes(s)) return s as Algorithm;
	const shown = printable(s);
	throw new TokenError(
		"unsupported_algorithm",
		`unsupported algorithm ${JSON.stringify(shown)}: expected one of ${ALGORITHMS.join(", ")}`,
	);
}

/** @internal The JWK key type of an algorithm. */
export function family(alg: Algorithm): Family {
	switch (alg[0]) {
		case "H":
			return "oct";
		case "R":
		case "P":
			return "RSA";
		case "E":
			return alg === "EdDSA" ? "OKP" : "EC";
	}
	return "oct";
}

/** @internal The `crv` of EC and OKP algorithms. */
export function curve(alg: Algorithm): string | undefined {
	return { ES256: "P-256", ES384: "P-384", ES512: "P-521", EdDSA: "Ed25519" }[alg as string];
}

/** @internal Generated HMAC secret length, or EC coordinate length, in bytes. */
export function keyLen(alg: Algorithm): number {
	return (
		{ HS256: 32, ES256: 32, EdDSA: 32, HS384: 48, ES384: 48, HS512: 64, ES512: 66 } as Record<string, number>
	)[alg] ?? 0;
}

/** @internal The WebCrypto hash of an algorithm. */
export function hash(alg: Algorithm): string {
	return alg.endsWith("384") ? "SHA-384" : alg.endsWith("512") ? "SHA-512" : "SHA-256";
}

/** @internal The WebCrypto parameters for sign/verify. */
export function signParams(alg: Algorithm): AlgorithmIdentifier | RsaPssParams | EcdsaParams {
	switch (family(alg)) {
		case "oct":
			return { name: "HMAC" };
		case "RSA":
			if (alg.startsWith("PS")) {
				return { name: "RSA-PSS", saltLength: Number(hash(alg).slice(4)) / 8 } as RsaPssParams;
			}
			return { name: "RSASSA-PKCS1-v1_5" };
		case "EC":
			return { name: "ECDSA", hash: hash(alg) } as EcdsaParams;
		case "OKP":
			return { name: "Ed25519" };
	}
}
