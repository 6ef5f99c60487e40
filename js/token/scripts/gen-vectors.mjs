#!/usr/bin/env node
// Writes vectors/token/verify-moq-token-ts.json: tokens signed by THIS package (@moq/token) with
// the keys of vectors/token/keys.json, for every algorithm, positive and negative, as of `now`
// 1800000000. Both the Rust and the TypeScript corpus tests read it.
//
//   npm run gen-vectors            (builds first; or: node scripts/gen-vectors.mjs [vectors/token])
//
// Expected claims are written from the claims signed, not from this package's verifier, so the
// corpus tests check the verifiers against what was meant.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generate, load, sign, toJwk } from "../dist/index.js";

const dir = process.argv[2] ?? fileURLToPath(new URL("../../../vectors/token/", import.meta.url));
const keys = JSON.parse(readFileSync(join(dir, "keys.json"), "utf8"));
const PRODUCER = "moq-token-ts";
const NOW = 1800000000;
const cases = [];

function expected(claims) {
	return {
		root: claims.root ?? "",
		publish: claims.publish ?? [],
		subscribe: claims.subscribe ?? [],
		cluster: claims.cluster ?? false,
		exp: claims.exp ?? null,
		iat: claims.iat ?? null,
		nbf: claims.nbf ?? null,
		jti: claims.jti ?? null,
	};
}

function ok(name, verifier, token, claims) {
	cases.push({ name, ...verifier, token, now: NOW, expect: { claims: expected(claims) }, producer: PRODUCER });
}

function bad(name, verifier, token, error) {
	cases.push({ name, ...verifier, token, now: NOW, expect: { error }, producer: PRODUCER });
}

/** A key of keys.json, loaded, optionally with fields changed (`undefined` drops a field). */
async function corpusKey(name, changes = {}) {
	const jwk = { ...keys.keys[name], ...changes };
	for (const [k, v] of Object.entries(changes)) if (v === undefined) delete jwk[k];
	return load(jwk);
}

const base = { root: "room/123", publish: ["alice"], subscribe: [""], exp: NOW + 3600, iat: NOW - 60 };

for (const alg of ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]) {
	const name = alg.toLowerCase();
	const key = await corpusKey(name);
	const asym = !alg.startsWith("HS");
	const claims = { ...base, publish: [`${name}-publisher`], subscribe: [""] };
	ok(`ts-${name}-pub-sub`, { key: name }, await sign(key, claims), claims);
	const putGet = { root: "demo", publish: ["alice", "bob/cam"], subscribe: ["carol"], exp: NOW + 60 };
	ok(`ts-${name}-put-get`, { key: name }, await sign(key, putGet, { format: "put-get" }), putGet);
	if (asym) {
		ok(`ts-${name}-public-key`, { key: `${name}-public` }, await sign(key, claims), claims);
	}
	const expired = { ...base, exp: NOW - 1 };
	bad(`ts-${name}-expired`, { key: asym ? `${name}-public` : name }, await sign(key, expired), "expired");
	const notYet = { ...base, nbf: NOW + 30 };
	bad(`ts-${name}-not-yet-valid`, { key: name }, await sign(key, notYet), "not_yet_valid");
	// Another key with the corpus key's id: the signature cannot verify.
	const other = await generate(alg, key.kid);
	bad(`ts-${name}-wrong-key`, { key: asym ? `${name}-public` : name }, await sign(other, claims), "bad_signature");
	// Another key with its own id: refused by kid before any signature check.
	const stranger = await generate(alg);
	bad(`ts-${name}-unknown-kid`, { key: name }, await sign(stranger, claims), "unknown_kid");
}

// Claims shapes, signed by this package.
const hs = await corpusKey("hs256");
const cluster = { root: "", publish: [""], subscribe: [""], cluster: true };
ok("ts-cluster-token-no-exp", { key: "hs256" }, await sign(hs, cluster), cluster);
const withJti = { root: "a/b", subscribe: ["x", "y/z"], nbf: NOW, jti: "token-42", exp: NOW + 1 };
ok("ts-nbf-equal-now-and-jti", { key: "hs256" }, await sign(hs, withJti), withJti);
const normalizedPaths = { root: "/room//123/", publish: ["/alice/"], exp: NOW + 10 };
ok("ts-paths-normalized-when-signing", { key: "hs256" }, await sign(hs, normalizedPaths), {
	...normalizedPaths,
	root: "room/123",
	publish: ["alice"],
});
const everything = { root: "r", publish: ["a", ""], subscribe: [""], exp: NOW + 10 };
ok("ts-list-with-top-is-everything", { key: "hs256" }, await sign(hs, everything), { ...everything, publish: [""] });
bad("ts-expired-exp-equals-now", { key: "hs256" }, await sign(hs, { ...base, exp: NOW }), "expired");

// Key scope and key_ops.
const scoped = await corpusKey("hs256-scoped");
const inScope = { root: "demo/room", publish: ["alice"], subscribe: [""], exp: NOW + 10 };
ok("ts-within-key-scope", { key: "hs256-scoped" }, await sign(scoped, inScope), inScope);
const unscoped = await corpusKey("hs256-scoped", { scope: undefined });
bad("ts-scope-exceeded", { key: "hs256-scoped" }, await sign(unscoped, { ...inScope, root: "other" }), "scope_exceeded");
const signOnly = await corpusKey("hs256-sign-only");
bad("ts-sign-only-key-cannot-verify", { key: "hs256-sign-only" }, await sign(signOnly, base), "operation_not_allowed");

// Key sets: select by kid; the set holds public keys only, so sign with fresh keys.
const setA = await generate("ES256", "set-a");
bad("ts-set-kid-a-wrong-key", { set: "two-keys" }, await sign(setA, base), "bad_signature");
const setC = await generate("EdDSA", "set-c");
bad("ts-set-unknown-kid", { set: "two-keys" }, await sign(setC, base), "unknown_kid");
const noKid = await load({ ...toJwk(await generate("ES256")), kid: undefined });
bad("ts-set-missing-kid", { set: "two-keys" }, await sign(noKid, base), "missing_kid");
bad("ts-set-one-key-no-kid-wrong-key", { set: "one-key" }, await sign(noKid, base), "bad_signature");

const out = { producer: "moq-token-ts (@moq/token 0.1.0, this repo's TypeScript package)", cases };
writeFileSync(join(dir, "verify-moq-token-ts.json"), `${JSON.stringify(out, null, 2)}\n`);
console.log(`wrote ${cases.length} cases to ${join(dir, "verify-moq-token-ts.json")}`);
