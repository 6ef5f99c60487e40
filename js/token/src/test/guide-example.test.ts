// The TypeScript example that the moq-token authentication guide prints, run as printed: only the
// package name in the import is ours (`@moq/token`, imported by name as an application would). It
// loads a key file without `await`, names the root `path`, gives `pub`/`sub` as strings and `exp`
// in seconds. The key file comes from the guide's own command line (`moq-token --key "root.jwk"
// generate`, the Rust CLI); the token the example signs must verify with that key in TypeScript,
// in the Rust CLI, and authorize the example's URL. docs/tokens.md (TypeScript section) shows the
// same example; the last test keeps the two identical.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { authorize, verify } from "../index.js";
import { cliOk } from "./rust-cli.js";

const work = mkdtempSync(join(tmpdir(), "moq-token-guide-"));
after(() => rmSync(work, { recursive: true, force: true }));
cliOk(work, ["--key", "root.jwk", "generate"]);
const base64urlEncodedKey = readFileSync(join(work, "root.jwk"), "utf8");
const before = Math.floor(Date.now() / 1000);

// --- the example ---
import { sign, load } from "@moq/token";

// Load signing key
const key = load(base64urlEncodedKey);

// Create user token
const claims = {
  path: "hang/meeting-123",      // Note: called "path" in JS, "root" in Rust
  pub: "alice", 
  sub: "",
  exp: Math.floor(Date.now() / 1000) + 3600  // 1 hour from now
};

const token = await sign(key, claims);

// Use in connection URL
const url = `https://relay.example.com/hang/meeting-123?jwt=${token}`;
// --- end of the example ---

test("the guide's example: the token verifies with the same key, with the claims it meant", async () => {
	const verified = await verify(key, token);
	assert.equal(verified.root, "hang/meeting-123");
	assert.deepEqual(verified.publish, ["alice/**"]);
	assert.deepEqual(verified.subscribe, ["**"]);
	assert.equal(verified.cluster, false);
	assert.ok(verified.exp! >= before + 3600 && verified.exp! <= Math.floor(Date.now() / 1000) + 3600, `exp ${verified.exp}`);
	// On the wire the claims have the names the Rust crate writes: root, pub, sub.
	const payload = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
	assert.deepEqual(Object.keys(payload), ["root", "pub", "sub", "exp"]);
});

test("the guide's example: the Rust CLI verifies the token with the key file and authorizes the URL path", () => {
	const target = new URL(url);
	assert.equal(target.searchParams.get("jwt"), token);
	const out = JSON.parse(cliOk(work, ["--key", "root.jwk", "verify", "--root", target.pathname], `${token}\n`));
	assert.deepEqual([out.root, out.pub, out.sub, out.cluster], ["hang/meeting-123", ["alice/**"], ["**"], false]);
	assert.equal(out.exp, claims.exp);
	assert.deepEqual(out.connect, { path: "hang/meeting-123", publish: ["alice/**"], subscribe: ["**"] });
});

test("the guide's example: a relay at the URL's path lets alice publish and everyone subscribe", async () => {
	const session = authorize(await verify(key, token), new URL(url).pathname);
	assert.ok(session.canPublish("alice/camera"));
	assert.ok(!session.canPublish("bob/camera"));
	assert.ok(session.canSubscribe("bob/screen"));
	assert.ok(!session.canSubscribe("../secret"));
});

test("docs/tokens.md shows the example exactly as this test runs it", () => {
	const source = readFileSync(fileURLToPath(new URL("../../src/test/guide-example.test.ts", import.meta.url)), "utf8");
	const example = source.split("// --- the example ---\n")[1].split("// --- end of the example ---\n")[0];
	const docs = readFileSync(fileURLToPath(new URL("../../../../docs/tokens.md", import.meta.url)), "utf8");
	const section = docs.slice(docs.indexOf("## TypeScript (@moq/token)"));
	assert.ok(section.includes(`\`\`\`ts\n${example}\`\`\``), "docs/tokens.md (TypeScript section) must show the example verbatim");
});
