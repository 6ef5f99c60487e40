// Behaviour of the API beyond the corpus: the Rust crate's unit tests, mirrored, and the JS surface.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { inspect } from "node:util";
import { fileURLToPath } from "node:url";
import {
	ALGORITHMS,
	type ClaimsInput,
	ERROR_CODES,
	Key,
	KeySet,
	MAX_TOKEN_LEN,
	Path,
	TokenError,
	authorize,
	exportKey,
	generate,
	load,
	loadPublic,
	parseClaims,
	sign,
	signPayload,
	toJwk,
	toPublic,
	verify,
} from "../index.js";

async function code(f: () => unknown): Promise<string> {
	try {
		await f();
	} catch (e) {
		if (e instanceof TokenError) return e.code;
		throw e;
	}
	return "ok";
}

const NOW = 1_800_000_000;

test("paths normalize, refuse dot segments, match by whole segments", async () => {
	assert.equal(Path.normalize(""), "");
	assert.equal(Path.normalize("/"), "");
	assert.equal(Path.normalize("//foo///bar//"), "foo/bar");
	assert.equal(Path.normalize("a..b/.c/d."), "a..b/.c/d.");
	for (const bad of ["..", ".", "../secret", "a/../b", "a/./b", "/a/..", "room/123/.."]) {
		assert.equal(await code(() => Path.normalize(bad)), "invalid_path", bad);
	}
	assert.ok(Path.hasPrefix("alice", "alice"));
	assert.ok(Path.hasPrefix("alice/cam", "alice"));
	assert.ok(!Path.hasPrefix("alicex", "alice"));
	assert.ok(!Path.hasPrefix("alice", "alice/cam"));
	assert.ok(Path.hasPrefix("anything", ""));
	assert.ok(!Path.hasPrefix("", "a"));
	assert.equal(Path.stripPrefix("room/123/alice", "room/123"), "alice");
	assert.equal(Path.stripPrefix("room/123", "/room/123/"), "");
	assert.equal(Path.stripPrefix("room/1234", "room/123"), undefined);
	assert.equal(Path.join("a", "b/c"), "a/b/c");
	assert.equal(Path.join("", "b"), "b");
	assert.equal(Path.join("a", ""), "a");
	assert.equal(Path.join("/", "/"), "");
});

test("claims: documented example, comma lists, put/get, wrong types, duplicates", async () => {
	const c = parseClaims('{"root":"room/123","pub":"alice","sub":"","cluster":false,"exp":1703980800,"iat":1703977200}');
	assert.deepEqual(c, {
		root: "room/123",
		publish: ["alice/**"],
		subscribe: ["**"],
		cluster: false,
		exp: 1703980800,
		iat: 1703977200,
	});
	assert.deepEqual(parseClaims('{"sub":"alice,bob"}').subscribe, ["alice/**", "bob/**"]);
	for (const bad of ['{"sub":"alice,"}', '{"sub":",bob"}', '{"sub":"a,,b"}', '{"sub":"a, b"}', '{"sub":" a"}', '{"sub":"a\\u0085"}']) {
		assert.equal(await code(() => parseClaims(bad)), "invalid_claim", bad);
	}
	// U+FEFF is whitespace to JavaScript's trim but not to Rust: a name, not an error.
	assert.deepEqual(parseClaims('{"sub":"a\\ufeff"}').subscribe, ["a\ufeff/**"]);
	assert.equal(await code(() => parseClaims('{"sub":"a,../b"}')), "invalid_path");
	const up = parseClaims('{"root":"demo","put":["alice","bob"],"get":""}');
	assert.deepEqual([up.publish, up.subscribe], [["alice/**", "bob/**"], ["**"]]);
	assert.deepEqual(parseClaims('{"put":[],"get":["a"]}').publish, []);
	assert.equal(await code(() => parseClaims('{"put":[1]}')), "invalid_claim");
	assert.equal(await code(() => parseClaims('{"pub":"a","put":["a"]}')), "ambiguous_claims");
	assert.deepEqual(parseClaims('{"sub":"user-7","get":[""]}').subscribe, ["**"], "sub beside get is the subject");
	assert.equal(parseClaims('{"path":"room","sub":""}').root, "");
	for (const bad of [
		'{"sub":"","exp":null}',
		'{"sub":"","exp":"1703980800"}',
		'{"sub":"","exp":1.5}',
		'{"sub":"","exp":1e3}',
		'{"sub":"","exp":-1}',
		'{"sub":"","exp":-0}',
		'{"sub":"","exp":18446744073709551616}',
		'{"sub":"","nbf":true}',
		'{"sub":"","iat":[]}',
		'{"sub":"","root":null}',
		'{"sub":"","root":5}',
		'{"sub":5}',
		'{"sub":["a"]}',
		'{"sub":"","cluster":"true"}',
		'{"sub":"","jti":7}',
		'{"sub":"","root":{"x":[1,{"y":2}]}}',
		'{"put":["a",["b"]]}',
		'{"sub":"","sub":"a"}',
		'{"sub":"","sub":<not even json>',
	]) {
		assert.equal(await code(() => parseClaims(bad)), "invalid_claim", bad);
	}
	assert.equal(parseClaims('{"sub":"","exp":18446744073709551615}').exp, 18446744073709551615);
	// Unknown claims are skipped (even repeated), known names may be escaped.
	assert.deepEqual(parseClaims('{"x":1,"x":[{"y":null}],"p\\u0075b":"alice"}').publish, ["alice/**"]);
		// A lone surrogate in a known claim's string is a parse failure in the Rust crate's one-pass reader.
	for (const bad of ["[1,2]", "not json", '{"sub":""} x', '{"sub":"",}', "", '{"\\ud800":1}', '{"sub":"\\ud800"}', '{"put":["\\udc00"]}']) {
		assert.equal(await code(() => parseClaims(bad)), "malformed", bad);
	}
});

test("sign: every spelling of a claim writes the same token claims; unknown names and milliseconds say what was meant", async () => {
	const key = await generate("HS256", "k");
	const payload = async (claims: ClaimsInput, format?: "put-get") =>
		JSON.parse(Buffer.from((await sign(key, claims, { format })).split(".")[1], "base64url").toString("utf8"));
	const wire = { root: "room/123", pub: "alice,bob", sub: "" };
	for (const claims of [
		{ root: "room/123", publish: ["alice/**", "bob/**"], subscribe: ["**"] },
		{ path: "room/123", pub: "alice,bob", sub: "" },
		{ root: "/room//123/", pub: ["alice", "bob"], sub: [""] },
		{ path: "room/123", publish: "alice,bob", subscribe: "" },
		{ root: "room/123", put: ["alice", "bob"], get: "" },
		{ root: "room/123", put: ["alice", "bob"], get: ["x", ""] },
		{ root: "room/123", pub: "alice,bob", sub: "", exp: undefined, path: undefined },
	] as ClaimsInput[]) {
		assert.deepEqual(await payload(claims), wire, JSON.stringify(claims));
	}
	assert.deepEqual(await payload({ root: "r", pub: "a,b/c", sub: "" }, "put-get"), { root: "r", put: ["a", "b/c"], get: [""] });
	// put/get strings are one path, as in a token: a comma cannot go into the pub/sub strings.
	assert.deepEqual(await payload({ root: "r", put: "a,b" }, "put-get"), { root: "r", put: ["a,b"] });
	const message = async (claims: unknown) => {
		try {
			await sign(key, claims as ClaimsInput);
		} catch (e) {
			if (e instanceof TokenError) return `${e.code}: ${e.message}`;
			throw e;
		}
		return "ok";
	};
	assert.match(await message({ root: "r", put: "a,b" }), /^invalid_claim: .*"pub".*put\/get format/);
	assert.match(await message({ root: "r", publish: [" a"] }), /^invalid_claim: .*put\/get format/);
	assert.equal(await message({ root: "r", publish: ["a,b", ""] }), "ok", "a list with the top is written as \"\"");
	assert.match(await message({ root: "r", pub: "a,,b" }), /^invalid_claim: invalid claim "pub": empty element/);
	assert.match(await message({ root: "r", pub: "a, b" }), /^invalid_claim: invalid claim "pub": whitespace/);
	assert.match(await message({ root: "r", pub: 5 }), /^invalid_claim: invalid claim "pub": must be an array of path strings or a comma-separated string/);
	assert.match(await message({ root: "r", sub: ["a", 5] }), /^invalid_claim: invalid claim "sub"/);
	assert.match(await message({ path: 5, sub: "" }), /^invalid_claim: invalid claim "path": must be a string/);
	assert.match(await message({ root: "r", sub: "../x" }), /^invalid_path/);
	// Two spellings of one claim.
	for (const [claims, names] of [
		[{ root: "a", path: "a", sub: "" }, /"root" and "path"/],
		[{ root: "a", pub: "x", publish: ["x/**"] }, /"pub" and "publish"/],
		[{ root: "a", sub: "", get: [""] }, /"sub" and "get"/],
		[{ root: "a", subscribe: ["**"], sub: "" }, /"subscribe" and "sub"/],
	] as const) {
		assert.match(await message(claims), new RegExp(`^ambiguous_claims: claims give both ${names.source}: use one spelling$`));
	}
	// Unknown names: an error that names what was meant, never dropped silently.
	for (const [name, meant] of [
		["pubish", "publish"],
		["Root", "root"],
		["subs", "sub"],
		["expires", "exp"],
		["not_before", "nbf"],
		["issuedAt", "iat"],
		["id", "jti"],
		["clster", "cluster"],
	]) {
		const m = await message({ root: "r", sub: "", [name]: "x" });
		assert.match(m, /^invalid_claim: /, name);
		assert.ok(m.includes(`invalid claim "${name}": unknown claim name; did you mean "${meant}"?`), m);
		assert.ok(m.endsWith("sign accepts root (or path), pub (or publish, put), sub (or subscribe, get), cluster, exp, iat, nbf, jti"), m);
	}
	for (const name of ["aud", "iss", "x"]) {
		const m = await message({ root: "r", sub: "", [name]: "x" });
		assert.ok(m.startsWith(`invalid_claim: invalid claim "${name}": unknown claim name; sign accepts root`), m);
	}
	// A name is shown printable and cut short; an unknown name is refused even when undefined.
	const odd = await message({ root: "r", sub: "", ["a\n\u2028é".repeat(30)]: undefined });
	assert.match(odd, /^invalid_claim: invalid claim "a\\n\\u\{2028\}\\u\{e9\}a/);
	assert.ok(/^[\x20-\x7e]*$/.test(odd) && odd.includes('..."'), odd);
	// Times: whole unix seconds; milliseconds (Date.now()) are refused with the fix.
	const ms = Date.now() + 3_600_000;
	for (const claim of ["exp", "iat", "nbf"]) {
		assert.equal(
			await message({ root: "r", sub: "", [claim]: ms }),
			`invalid_claim: invalid claim "${claim}": ${ms} is in milliseconds (as Date.now() counts); ${claim} takes unix seconds: Math.floor(Date.now() / 1000) + 3600 is an hour from now`,
		);
	}
	assert.match(await message({ root: "r", sub: "", exp: 1e11 }), /is in milliseconds/);
	assert.equal(await message({ root: "r", sub: "", exp: 1e11 - 1 }), "ok", "the year 5138 in seconds is still seconds");
	assert.match(await message({ root: "r", sub: "", exp: Date.now() / 1000 }), /is not whole unix seconds: round it/);
	for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, "1800000000", null]) {
		assert.match(await message({ root: "r", sub: "", exp: bad }), /^invalid_claim: invalid claim "exp": must be a non-negative integer/, String(bad));
	}
	for (const bad of [null, "x", ["root"]]) {
		assert.match(await message(bad), /^invalid_claim: invalid claim "\(claims\)": must be an object/);
	}
	// Verified claims sign again unchanged.
	const claims = await verify(key, await sign(key, { path: "r", pub: "a", sub: "b,c", exp: NOW + 5, iat: NOW, nbf: NOW, jti: "j", cluster: true }), { now: NOW });
	assert.deepEqual(await verify(key, await sign(key, claims), { now: NOW }), claims);
});

test("load without await: sign, verify, signPayload and toPublic take the promise", async () => {
	const file = exportKey(await generate("ES256", "k"));
	const key = load(file);
	const token = await sign(key, { root: "r", pub: "a" });
	assert.deepEqual((await verify(key, token)).publish, ["a/**"]);
	assert.deepEqual((await verify(loadPublic(file), token)).publish, ["a/**"]);
	assert.deepEqual((await verify(toPublic(key), token)).publish, ["a/**"]);
	assert.ok(await signPayload(key, new TextEncoder().encode("{}")));
	const set = KeySet.parse({ keys: [toJwk(await toPublic(key))] });
	assert.deepEqual((await verify(set, token)).publish, ["a/**"]);
	// A bad key file fails where the promise is used, with the load error.
	assert.equal(await code(() => sign(load("{not json"), { sub: "" })), "key_error");
	assert.equal(await code(() => verify(load({ alg: "none" }), token)), "unsupported_algorithm");
	await assert.rejects(sign(Promise.resolve({}) as unknown as Key, { sub: "" }), TypeError);
	await assert.rejects(toPublic("key" as unknown as Key), TypeError);
});

test("authorize: the table of docs/tokens.md#authorizing-a-connection", async () => {
	const claims = parseClaims('{"root":"room/123","pub":"alice","sub":""}');
	const at = authorize(claims, "/room/123");
	assert.ok(at.canPublish("alice") && at.canPublish("alice/camera"));
	assert.ok(!at.canPublish("bob/camera") && !at.canPublish("alicex"));
	assert.ok(at.canSubscribe("bob/screen") && !at.canSubscribe("../secret"));
	const alice = authorize(claims, "/room/123/alice");
	assert.deepEqual([alice.publish, alice.subscribe], [["**"], ["**"]]);
	const bob = authorize(claims, "/room/123/bob");
	assert.deepEqual([bob.publish, bob.subscribe], [[], ["**"]]);
	for (const refused of ["/room", "/room/1234", "/secret", "/"]) {
		assert.equal(await code(() => authorize(claims, refused)), "root_mismatch", refused);
	}
	assert.equal(await code(() => authorize(claims, "/room/123/..")), "invalid_path");
	const alicesOnly = parseClaims('{"root":"room","pub":"alice"}');
	assert.equal(await code(() => authorize(alicesOnly, "room/bob")), "no_access");
});

test("keys: every algorithm generates, signs, verifies, exports and reloads", async () => {
	for (const alg of ALGORITHMS) {
		const key = await generate(alg);
		assert.equal(key.alg, alg);
		assert.equal(key.kid, key.thumbprint, `${alg}: the default kid is the RFC 7638 thumbprint`);
		assert.ok(key.isPrivate && key.canSign);
		const token = await sign(key, { root: "r", publish: ["a/**"], exp: NOW + 10 });
		assert.deepEqual(await verify(key, token, { now: NOW }), { root: "r", publish: ["a/**"], subscribe: [], cluster: false, exp: NOW + 10 });
		for (const format of ["base64url", "json"] as const) {
			const again = await load(exportKey(key, { format }));
			assert.deepEqual(toJwk(again), toJwk(key));
			assert.equal(again.thumbprint, key.thumbprint);
			await verify(again, token, { now: NOW });
		}
		if (alg.startsWith("HS")) {
			assert.equal(await code(() => toPublic(key)), "key_error");
			const jwk = toJwk(key);
			assert.equal(Buffer.from(jwk.k as string, "base64url").length, { HS256: 32, HS384: 48, HS512: 64 }[alg as "HS256"]);
		} else {
			const pub = await loadPublic(exportKey(key));
			assert.deepEqual(pub.keyOps, { sign: false, verify: true });
			assert.equal(pub.kid, key.kid);
			assert.ok(!pub.isPrivate && !pub.canSign);
			await verify(pub, token, { now: NOW });
			assert.equal(await code(() => sign(pub, { publish: ["**"] })), "operation_not_allowed");
			const publicJwk = toJwk(pub);
			for (const f of ["d", "p", "q", "dp", "dq", "qi"]) assert.ok(!(f in publicJwk), `${alg}: ${f}`);
		}
	}
	const rsa = toJwk(await generate("RS256"));
	assert.equal(Buffer.from(rsa.n as string, "base64url").length, 256);
	assert.equal(rsa.e, "AQAB");
	assert.equal((await generate("ES256", "my-key")).kid, "my-key");
	assert.equal(await code(() => generate("ES256", "../x")), "key_error");
	assert.equal(await code(() => generate("none" as "HS256")), "unsupported_algorithm");
});

test("keys: secrets never appear in inspect, JSON.stringify or String", async () => {
	const key = await generate("HS256");
	const secret = toJwk(key).k as string;
	for (const shown of [inspect(key), JSON.stringify(key), String(key), inspect(key, { showHidden: true })]) {
		assert.ok(!shown.includes(secret), shown);
	}
	const ec = await generate("ES256");
	const d = toJwk(ec).d as string;
	assert.ok(!inspect(ec, { showHidden: true }).includes(d));
	assert.ok(!JSON.stringify(ec).includes(d));
});

test("keys: key_ops, scope, and the private half must match the public half", async () => {
	const key = await generate("HS256", "k");
	const verifyOnly = await load({ ...toJwk(key), key_ops: ["verify"] });
	const signOnly = await load({ ...toJwk(key), key_ops: ["sign"] });
	const token = await sign(signOnly, { subscribe: ["**"] });
	assert.equal(await code(() => verify(signOnly, token)), "operation_not_allowed");
	assert.equal(await code(() => sign(verifyOnly, { subscribe: ["**"] })), "operation_not_allowed");
	await verify(verifyOnly, token);
	assert.equal(await code(() => sign(key, { root: "r" })), "useless_token");

	const scoped = await load({ ...toJwk(key), scope: { root: "demo", put: ["room"], get: [""] } });
	await sign(scoped, { root: "demo/room", publish: ["**"] });
	await sign(scoped, { root: "", publish: ["demo/room/x/**"] });
	assert.equal(await code(() => sign(scoped, { root: "demo", publish: ["roomx/**"] })), "scope_exceeded");
	assert.deepEqual(toJwk(scoped).scope, { get: [""], put: ["room"], root: "demo" });

	// A private EC key whose d belongs to another key is refused at load, as in Rust.
	const a = toJwk(await generate("ES256"));
	const b = toJwk(await generate("ES256"));
	assert.equal(await code(() => load({ ...a, d: b.d })), "key_error");
	const ed = toJwk(await generate("EdDSA"));
	const ed2 = toJwk(await generate("EdDSA"));
	assert.equal(await code(() => load({ ...ed, d: ed2.d })), "key_error");
	// Keys load from JSON with surrounding whitespace and from padded base64url.
	await load(`\n  ${JSON.stringify(a)}  \n`);
	const b64 = Buffer.from(JSON.stringify(a)).toString("base64url");
	await load(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
	assert.equal(await code(() => load("{not json")), "key_error");
	assert.equal(await code(() => load({ ...a, alg: "ES256K" })), "unsupported_algorithm");
	assert.equal(await code(() => load({ ...a, alg: 5 })), "key_error");
	assert.equal(await code(() => load({ ...a, crv: undefined })), "key_error");
	assert.equal(await code(() => load({ ...a, x: "not*base64" })), "key_error");
	// A public RSA key under 2048 bits (256 bytes, first byte 0x01) loads, as in Rust, but verifies nothing.
	const n = Buffer.concat([Buffer.from([1]), Buffer.alloc(255, 0xff)]).toString("base64url");
	const small = await load({ alg: "RS256", kty: "RSA", n, e: "AQAB", key_ops: ["verify"] });
	const rsaHeader = Buffer.from('{"alg":"RS256"}').toString("base64url");
	const rsaToken = `${rsaHeader}.${Buffer.from('{"sub":""}').toString("base64url")}.${Buffer.alloc(256).toString("base64url")}`;
	assert.equal(await code(() => verify(small, rsaToken)), "bad_signature");
	const message = await load({ ...a, y: "AQ" }).catch((e: Error) => e.message);
	assert.match(String(message), /"y"/, "the message names the field");
});

test("verify: order of checks, size limit, kid, leeway", async () => {
	const key = await generate("HS256", "main");
	const token = await sign(key, { root: "r", subscribe: ["**"], exp: NOW, nbf: NOW - 5 });
	assert.equal(await code(() => verify(key, token, { now: NOW })), "expired");
	assert.equal((await verify(key, token, { now: NOW, leeway: 1 })).exp, NOW);
	assert.equal(await code(() => verify(key, token, { now: NOW - 10 })), "not_yet_valid");
	assert.equal((await verify(key, token, { now: NOW - 10, leeway: 5 })).nbf, NOW - 5);
	assert.equal(await code(() => verify(key, "x".repeat(MAX_TOKEN_LEN + 1))), "too_large");
	assert.equal(await code(() => verify(key, "a.b")), "malformed");
	const [h, p, s] = token.split(".");
	assert.equal(await code(() => verify(key, `${h}.${p}.${s}*`, { now: 0 })), "malformed");
	assert.equal(await code(() => verify(key, `${h}.${p}x.${s}`, { now: 0 })), "bad_signature");
	// Wrong kid before wrong signature; a key without kid accepts any well-formed kid.
	const other = await generate("HS256", "other");
	const foreign = await sign(other, { subscribe: ["**"] });
	assert.equal(await code(() => verify(key, foreign)), "unknown_kid");
	const noKid = await load({ ...toJwk(key), kid: undefined });
	assert.equal(await code(() => verify(noKid, foreign)), "bad_signature");
	// signPayload writes any JSON; verify still reads it as MoQ claims.
	const login = await signPayload(key, new TextEncoder().encode('{"sub":"user-42"}'));
	assert.deepEqual((await verify(key, login)).subscribe, ["user-42/**"]);
});

test("key sets: pick by kid, missing_kid, sign with the first signing key", async () => {
	const a = await generate("ES256", "a");
	const b = await generate("EdDSA", "b");
	const set = await KeySet.parse(JSON.stringify({ keys: [toJwk(await toPublic(a)), toJwk(await toPublic(b))] }));
	assert.deepEqual((await verify(set, await sign(b, { subscribe: ["x/**"] }))).subscribe, ["x/**"]);
	const c = await generate("ES256", "c");
	assert.equal(await code(async () => set.verify(await sign(c, { subscribe: ["**"] }))), "unknown_kid");
	const anonymous = await load({ ...toJwk(a), kid: undefined });
	assert.equal(await code(async () => set.verify(await sign(anonymous, { subscribe: ["**"] }))), "missing_kid");
	assert.equal(await code(() => set.sign({ subscribe: ["**"] })), "key_error");
	const signing = new KeySet([await toPublic(a), b]);
	assert.equal(await code(async () => verify(set, await signing.sign({ subscribe: ["**"] }))), "ok");
	assert.equal(await code(() => new KeySet([a, a])), "key_error");
	assert.equal(await code(() => KeySet.parse("{}")), "key_error");
	assert.equal(set.find("b")?.alg, "EdDSA");
});

test("error codes are the 19 stable codes", () => {
	assert.equal(ERROR_CODES.length, 19);
	const e = new TokenError("expired", "x");
	assert.ok(e instanceof Error && e.name === "TokenError" && e.code === "expired");
	assert.ok(Key.prototype instanceof Object);
});

test("library code uses no Node APIs (browser-safe)", () => {
	const dist = fileURLToPath(new URL("../", import.meta.url));
	const files = readdirSync(dist).filter((f) => f.endsWith(".js"));
	assert.ok(files.includes("index.js"));
	for (const f of files) {
		const text = readFileSync(join(dist, f), "utf8");
		assert.ok(!/from\s+["']node:|require\(|\bprocess\.|\bBuffer\b/.test(text), `${f} uses a Node API`);
	}
});
