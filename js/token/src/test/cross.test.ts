// Cross-language, every algorithm, both ways, through the Rust CLI (see rust-cli.ts for where it
// is found and how it is built): Rust generates and signs, TypeScript verifies; TypeScript
// generates and signs, Rust verifies.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ALGORITHMS, TokenError, exportKey, generate, load, loadPublic, sign, toPublic, verify } from "../index.js";
import { cliOk, runCli, rustCli } from "./rust-cli.js";

let work = "";

function run(args: string[], input?: string) {
	return runCli(work, args, input);
}

function ok(args: string[], input?: string): string {
	return cliOk(work, args, input);
}

before(() => {
	rustCli();
	work = mkdtempSync(join(tmpdir(), "moq-token-cross-"));
});

after(() => {
	if (work) rmSync(work, { recursive: true, force: true });
});

for (const [i, alg] of ALGORITHMS.entries()) {
	const name = alg.toLowerCase();
	const json = i % 2 === 1; // alternate the key file formats

	test(`${alg}: Rust generates and signs, TypeScript verifies`, async () => {
		const file = join(work, `rust-${name}.jwk`);
		ok(["--key", file, "generate", "--algorithm", alg, "--id", `rust-${name}`, ...(json ? ["--json"] : [])]);
		const text = readFileSync(file, "utf8");
		assert.equal(text.trim().startsWith("{"), json, "key file format");
		const token = ok([
			"--key", file, "sign", "--root", `room/${name}`, "--publish", "alice", "--publish", "bob/cam",
			"--subscribe", "", "--expires-in", "1h",
		]).trim();
		const key = await load(text);
		assert.equal(key.kid, `rust-${name}`);
		const claims = await verify(key, token);
		assert.equal(claims.root, `room/${name}`);
		assert.deepEqual(claims.publish, ["alice/**", "bob/cam/**"]);
		assert.deepEqual(claims.subscribe, ["**"]);
		assert.equal(claims.cluster, false);
		const now = Math.floor(Date.now() / 1000);
		assert.ok(claims.exp! > now + 3500 && claims.exp! <= now + 3700, `exp ${claims.exp}`);
		if (!alg.startsWith("HS")) {
			await verify(await loadPublic(text), token);
		}
		// The upstream claims format, and a token TypeScript must refuse.
		const putGet = ok([
			"--key", file, "sign", "--root", "demo", "--publish", "x", "--cluster", "--claims-format", "put-get",
			"--expires-in", "1h",
		]).trim();
		const c2 = await verify(key, putGet);
		assert.deepEqual([c2.root, c2.publish, c2.subscribe, c2.cluster], ["demo", ["x/**"], [], true]);
		const expired = ok(["--key", file, "sign", "--subscribe", "", "--expires", "1700000000"]).trim();
		await assert.rejects(verify(key, expired), (e: TokenError) => e.code === "expired");
		// Without --id the kid is the RFC 7638 thumbprint: both languages compute the same one.
		const anon = join(work, `rust-${name}-anon.jwk`);
		ok(["--key", anon, "generate", "--algorithm", alg]);
		const anonKey = await load(readFileSync(anon, "utf8"));
		assert.equal(anonKey.kid, anonKey.thumbprint, "Rust's default kid is the thumbprint TypeScript computes");
		const other = await generate(alg, `rust-${name}`);
		await assert.rejects(verify(other, token), (e: TokenError) => e.code === "bad_signature");
	});

	test(`${alg}: TypeScript generates and signs, Rust verifies`, async () => {
		const key = await generate(alg);
		const file = join(work, `ts-${name}.jwk`);
		writeFileSync(file, `${exportKey(key, { format: json ? "json" : "base64url" })}\n`, { mode: 0o600 });
		const exp = Math.floor(Date.now() / 1000) + 3600;
		const token = await sign(key, {
			root: `ts/${name}`,
			publish: ["alice/**"],
			subscribe: ["bob/**", "carol/x/**"],
			exp,
			iat: exp - 3600,
			jti: `id-${name}`,
		});
		const out = JSON.parse(ok(["--key", file, "verify"], `${token}\n`));
		assert.equal(out.root, `ts/${name}`);
		assert.deepEqual(out.pub, ["alice/**"]);
		assert.deepEqual(out.sub, ["bob/**", "carol/x/**"]);
		assert.equal(out.cluster, false);
		assert.equal(out.exp, exp);
		assert.equal(out.iat, exp - 3600);
		assert.equal(out.jti, `id-${name}`);

		const putGet = await sign(key, { root: "", publish: ["**"], subscribe: ["**"], cluster: true }, { format: "put-get" });
		const out2 = JSON.parse(ok(["--key", file, "verify"], putGet));
		assert.deepEqual([out2.root, out2.pub, out2.sub, out2.cluster, out2.exp], ["", ["**"], ["**"], true, null]);

		if (!alg.startsWith("HS")) {
			const pubFile = join(work, `ts-${name}.pub.jwk`);
			writeFileSync(pubFile, exportKey(await toPublic(key)));
			assert.equal(JSON.parse(ok(["--key", pubFile, "verify"], token)).root, `ts/${name}`);
		}
		// Rust must refuse what TypeScript refuses: a tampered token, an expired one, another key's.
		const [h, p, s] = token.split(".");
		const tampered = `${h}.${Buffer.from(JSON.stringify({ root: "", pub: "", sub: "" })).toString("base64url")}.${s}`;
		assert.notEqual(run(["--key", file, "verify"], tampered).status, 0, "tampered token verified");
		const expired = await sign(key, { subscribe: ["**"], exp: 1_700_000_000 });
		const r = run(["--key", file, "verify"], expired);
		assert.notEqual(r.status, 0, "expired token verified");
		assert.match(r.stderr, /expired/);
		const stranger = await generate(alg, key.kid);
		assert.notEqual(run(["--key", file, "verify"], await sign(stranger, { subscribe: ["**"] })).status, 0);
	});
}
