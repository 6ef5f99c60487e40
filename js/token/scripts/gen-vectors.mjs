#!/usr/bin/env node
// Writes vectors/token/verify-moq-token-ts.json: tokens signed by THIS package (@moq/token) with
// the keys of vectors/token/keys.json, for every algorithm, positive and negative, as of `now`
// 1800000000. Both the Rust and the TypeScript corpus tests read it.
//
//   npm run gen-vectors            (builds first; or: node scripts/gen-vectors.mjs [vectors/token])
//
// Expected claims are written from the claims signed, not from this package's verifier, so the
// corpus tests check the verifiers against what was meant.

import { createHmac } from "node:crypto";
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

// Hand-built JWS (HS256 with the corpus key), for the corners where a generic JSON reader and the
// Rust crate's serde reader could disagree; both corpus tests must give these verdicts.
const secret = Buffer.from(keys.keys.hs256.k, "base64url");
function handbuilt(header, payload) {
	const h = Buffer.from(header).toString("base64url");
	const p = Buffer.from(payload).toString("base64url");
	const sig = createHmac("sha256", secret).update(`${h}.${p}`).digest("base64url");
	return `${h}.${p}.${sig}`;
}
const HDR = '{"alg":"HS256","typ":"JWT","kid":"hs256-main"}';
const claimsOf = (over) => ({ root: "", publish: [], subscribe: [""], cluster: false, ...over });
const corners = [
	["lone-surrogate-in-sub", HDR, '{"sub":"\\ud800"}', "malformed"],
	["lone-surrogate-in-put-array", HDR, '{"put":["\\udc00"]}', "malformed"],
	["lone-surrogate-in-unknown-claim", HDR, '{"x":"\\ud800","sub":""}', claimsOf({})],
	["invalid-utf8-in-known-claim", HDR, Buffer.concat([Buffer.from('{"sub":"'), Buffer.from([0xff]), Buffer.from('"}')]), "malformed"],
	["invalid-utf8-in-unknown-claim", HDR, Buffer.concat([Buffer.from('{"x":"'), Buffer.from([0xff]), Buffer.from('","sub":""}')]), claimsOf({})],
	["invalid-utf8-inside-object-valued-claim", HDR, Buffer.concat([Buffer.from('{"sub":"","root":{"a":"'), Buffer.from([0xff]), Buffer.from('"}}')]), "invalid_claim"],
	["object-valued-root", HDR, '{"sub":"","root":{"x":[1,{"y":2}]}}', "invalid_claim"],
	["put-nested-array", HDR, '{"put":["a",["b"]]}', "invalid_claim"],
	["exp-minus-zero", HDR, '{"sub":"","exp":-0}', "invalid_claim"],
	["exp-past-u64", HDR, '{"sub":"","exp":18446744073709551616}', "invalid_claim"],
	["exp-exponent", HDR, '{"sub":"","exp":2e9}', "invalid_claim"],
	["cluster-number", HDR, '{"sub":"","cluster":1}', "invalid_claim"],
	["list-element-nel-whitespace", HDR, '{"sub":"a\\u0085"}', "invalid_claim"],
	["list-element-bom-is-a-name", HDR, '{"sub":"a\\ufeff"}', claimsOf({ subscribe: ["a\ufeff"] })],
	["escaped-claim-name", HDR, '{"\\u0073ub":"x"}', claimsOf({ subscribe: ["x"] })],
	["payload-surrounded-by-whitespace", HDR, ' \n{"sub":""}\t ', claimsOf({})],
	["duplicate-unknown-claim-ignored", HDR, '{"x":1,"x":2,"sub":""}', claimsOf({})],
	["duplicate-claim-before-garbage", HDR, '{"sub":"","sub":<garbage', "invalid_claim"],
	["deep-unknown-claim", HDR, `{"x":${"[".repeat(300)}${"]".repeat(300)},"sub":""}`, claimsOf({})],
	["deep-known-claim", HDR, `{"put":${"[".repeat(300)}${"]".repeat(300)}}`, "malformed"],
	["header-as-array", '["HS256"]', '{"sub":""}', claimsOf({})],
	["header-as-array-with-crit", '["HS256",null,[]]', '{"sub":""}', "unknown_crit"],
	["header-as-empty-array", "[]", '{"sub":""}', "malformed"],
	["header-duplicate-alg", '{"alg":"HS256","alg":"HS256"}', '{"sub":""}', "malformed"],
	["header-kid-null", '{"alg":"HS256","kid":null}', '{"sub":""}', claimsOf({})],
	["header-kid-empty", '{"alg":"HS256","kid":""}', '{"sub":""}', "unknown_kid"],
	["header-alg-null", '{"alg":null}', '{"sub":""}', "malformed"],
	["header-crit-before-bad-alg", '{"crit":["x"],"alg":"nope"}', '{"sub":""}', "unknown_crit"],
	["header-crit-deep", `{"alg":"HS256","crit":${"[".repeat(200)}${"]".repeat(200)}}`, '{"sub":""}', "malformed"],
	["header-unknown-field-invalid-utf8", Buffer.concat([Buffer.from('{"alg":"HS256","x":"'), Buffer.from([0xfe]), Buffer.from('"}')]), '{"sub":""}', claimsOf({})],
];
for (const [name, header, payload, verdict] of corners) {
	const token = handbuilt(header, payload);
	if (typeof verdict === "string") bad(`ts-handbuilt-${name}`, { key: "hs256" }, token, verdict);
	else ok(`ts-handbuilt-${name}`, { key: "hs256" }, token, verdict);
}

const out = { producer: "moq-token-ts (@moq/token 0.1.0, this repo's TypeScript package)", cases };
writeFileSync(join(dir, "verify-moq-token-ts.json"), `${JSON.stringify(out, null, 2)}\n`);
console.log(`wrote ${cases.length} cases to ${join(dir, "verify-moq-token-ts.json")}`);
