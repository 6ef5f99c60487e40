// Runs the shared vector corpus (`vectors/token/`), the same files the Rust tests read: every case
// must reach the Rust verdict with the same error code.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Claims, KeySet, TokenError, authorize, load, parseClaims, verify, Path } from "../index.js";

const DIR = fileURLToPath(new URL("../../../../vectors/token/", import.meta.url));

function read(file: string): any {
	return JSON.parse(readFileSync(join(DIR, file), "utf8"));
}

function normalized(c: Claims) {
	return {
		root: c.root,
		publish: c.publish,
		subscribe: c.subscribe,
		cluster: c.cluster,
		exp: c.exp ?? null,
		iat: c.iat ?? null,
		nbf: c.nbf ?? null,
		jti: c.jti ?? null,
	};
}

type Outcome<T> = { ok: T; code?: undefined; message?: undefined } | { ok?: undefined; code: string; message: string };

async function outcome<T>(f: () => Promise<T> | T): Promise<Outcome<T>> {
	try {
		return { ok: await f() };
	} catch (e) {
		if (e instanceof TokenError) return { code: e.code, message: e.message };
		throw e;
	}
}

const verifyFiles = readdirSync(DIR)
	.filter((n: string) => n.startsWith("verify-") && n.endsWith(".json"))
	.sort();
const keys = read("keys.json");
/** Cases run so far, across the tests of this file (they run in order). */
let totalRan = 0;

test("the corpus has the files both languages read", () => {
	assert.ok(verifyFiles.includes("verify-moq-token-rs.json"));
	assert.ok(verifyFiles.includes("verify-upstream.json"));
	assert.ok(verifyFiles.includes("verify-pyjwt.json"));
});

test("every key of keys.json loads, every set parses", async () => {
	const names = Object.keys(keys.keys);
	let loaded = 0;
	for (const name of names) {
		const key = await load(keys.keys[name]);
		assert.equal(key.alg, keys.keys[name].alg, name);
		loaded++;
	}
	for (const [name, set] of Object.entries(keys.sets)) {
		const parsed = await KeySet.parse(set as object);
		assert.equal(parsed.keys.length, (set as any).keys.length, name);
		loaded++;
	}
	assert.equal(loaded, names.length + Object.keys(keys.sets).length);
});

test("invalid keys fail with the Rust code", async () => {
	let ran = 0;
	for (const c of keys.invalid_keys) {
		const r = await outcome(() => load(c.jwk));
		assert.ok(r.code !== undefined, `invalid key ${c.name}: loaded`);
		assert.equal(r.code, c.error, `invalid key ${c.name}: ${r.message}`);
		ran++;
	}
	assert.equal(ran, keys.invalid_keys.length);
	assert.ok(ran > 0);
	totalRan += ran;
});

for (const file of verifyFiles) {
	test(`verify cases: ${file}`, async () => {
		const doc = read(file);
		const cache = new Map<string, Promise<any>>();
		const verifier = (c: any) => {
			const id = c.set !== undefined ? `set:${c.set}` : `key:${c.key}`;
			if (!cache.has(id)) {
				cache.set(id, c.set !== undefined ? KeySet.parse(keys.sets[c.set]) : load(keys.keys[c.key]));
			}
			return cache.get(id)!;
		};
		let ran = 0;
		const failures: string[] = [];
		for (const c of doc.cases) {
			const v = await verifier(c);
			const r = await outcome(() => verify(v, c.token, { now: c.now }));
			if (c.expect.error !== undefined) {
				if (r.code === undefined) failures.push(`${c.name}: expected ${c.expect.error}, verified ${JSON.stringify(r.ok)}`);
				else if (r.code !== c.expect.error) failures.push(`${c.name}: expected ${c.expect.error}, got ${r.code} (${r.message})`);
			} else if (r.code !== undefined) {
				failures.push(`${c.name}: expected success, got ${r.code} (${r.message})`);
			} else {
				try {
					assert.deepStrictEqual(normalized(r.ok as Claims), c.expect.claims);
				} catch {
					failures.push(`${c.name}: claims ${JSON.stringify(normalized(r.ok as Claims))} != ${JSON.stringify(c.expect.claims)}`);
				}
			}
			ran++;
		}
		assert.deepEqual(failures, []);
		assert.equal(ran, doc.cases.length);
		totalRan += ran;
		assert.ok(ran > 0, `${file} has no cases`);
	});
}

const AUTHORIZE_FILES = ["authorize.json", "authorize-patterns.json"];

test("authorize cases", async () => {
	const doc = { cases: AUTHORIZE_FILES.flatMap((f) => read(f).cases) };
	let ran = 0;
	let checks = 0;
	for (const c of doc.cases) {
		const claims = parseClaims(c.claims);
		const r = await outcome(() => authorize(claims, c.connect));
		if (c.expect.error !== undefined) {
			assert.ok(r.code !== undefined, `${c.name}: expected ${c.expect.error}`);
			assert.equal(r.code, c.expect.error, `${c.name}: ${r.message}`);
		} else {
			assert.ok(r.ok !== undefined, `${c.name}: ${r.message}`);
			const p = r.ok!;
			assert.deepStrictEqual(p.publish, c.expect.publish, c.name);
			assert.deepStrictEqual(p.subscribe, c.expect.subscribe, c.name);
			for (const check of c.checks ?? []) {
				const allowed = check.op === "publish" ? p.canPublish(check.path) : p.canSubscribe(check.path);
				assert.equal(allowed, check.allow, `${c.name}: ${check.op} ${check.path}`);
				if (!Path.isValid(check.path)) assert.equal(allowed, false);
				checks++;
			}
		}
		ran++;
	}
	assert.equal(ran, doc.cases.length);
	assert.ok(checks > 0);
	totalRan += ran;
});

test("case count: every case of every file ran", () => {
	let expected = keys.invalid_keys.length;
	for (const f of AUTHORIZE_FILES) expected += read(f).cases.length;
	for (const f of verifyFiles) expected += read(f).cases.length;
	assert.equal(totalRan, expected, "every case of every corpus file ran (no silent skips)");
	assert.ok(expected >= 150, `only ${expected} cases`);
	console.log(`# corpus: ${expected} cases in ${verifyFiles.length} verify files, keys.json and ${AUTHORIZE_FILES.join(", ")}`);
});
