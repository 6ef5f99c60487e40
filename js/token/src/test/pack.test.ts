// Packaging: `npm pack`, install the tarball into an empty project (offline: the tarball plus
// the jose already in the npm cache), then import it from an .mjs file and type-check a .ts file
// with moduleResolution nodenext.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { cleanEnv } from "./pack-check.js";

const PKG = fileURLToPath(new URL("../../", import.meta.url));
const VERSION = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8")).version;

function sh(cmd: string, args: string[], cwd: string) {
	const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: cleanEnv(), timeout: 300_000 });
	if (r.error) throw r.error;
	return r;
}

test("npm pack → install in an empty project → import and type-check", async () => {
	const tmp = mkdtempSync(join(tmpdir(), "moq-token-pack-"));
	try {
		// The package is built already (npm test builds first); pack without re-running prepack.
		const pack = sh("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], PKG);
		assert.equal(pack.status, 0, pack.stderr);
		const [info] = JSON.parse(pack.stdout);
		const files: string[] = info.files.map((f: { path: string }) => f.path);
		for (const f of ["package.json", "README.md", "LICENSE", "dist/index.js", "dist/index.d.ts", "dist/key.js", "src/key.ts"]) {
			assert.ok(files.includes(f), `${f} missing from the tarball: ${files.join(", ")}`);
		}
		for (const f of files) {
			assert.ok(!f.startsWith("src/test/") && !f.startsWith("dist/test/") && !f.includes("node_modules"), `${f} should not be packed`);
		}
		const tarball = join(tmp, info.filename);

		const app = join(tmp, "app");
		sh("mkdir", ["-p", app], tmp);
		writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
		let install = sh("npm", ["install", "--offline", "--no-audit", "--no-fund", tarball], app);
		if (install.status !== 0) {
			install = sh("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball], app);
		}
		assert.equal(install.status, 0, install.stderr);
		const installed = JSON.parse(readFileSync(join(app, "node_modules/@moq/token/package.json"), "utf8"));
		assert.equal(installed.name, "@moq/token");
		assert.equal(installed.version, VERSION);

		writeFileSync(
			join(app, "roundtrip.mjs"),
			`import { sign, verify, generate, authorize } from "@moq/token";
const key = await generate("ES256");
const token = await sign(key, { root: "room/123", publish: ["alice"], subscribe: [""] });
const claims = await verify(key, token);
const session = authorize(claims, "/room/123");
console.log(JSON.stringify({ claims, alice: session.canPublish("alice/camera"), bob: session.canPublish("bob/camera") }));
`,
		);
		const node = sh(process.execPath, ["roundtrip.mjs"], app);
		assert.equal(node.status, 0, node.stderr);
		assert.deepEqual(JSON.parse(node.stdout), {
			claims: { root: "room/123", publish: ["alice/**"], subscribe: ["**"], cluster: false },
			alice: true,
			bob: false,
		});

		writeFileSync(
			join(app, "check.ts"),
			`import { type Claims, type ErrorCode, type Key, type Permissions, TokenError, authorize, generate, load, sign, verify, Path } from "@moq/token";
const key: Key = await generate("EdDSA", "my-key");
const token: string = await sign(key, { root: "a", subscribe: [""] }, { format: "put-get" });
const claims: Claims = await verify(key, token, { now: 1800000000, leeway: 5 });
const p: Permissions = authorize(claims, Path.join("a", "b"));
const allowed: boolean = p.canSubscribe("x");
export let seen: [ErrorCode, boolean] | undefined;
try { await verify(key, "x"); } catch (e) { if (e instanceof TokenError) { const c: ErrorCode = e.code; seen = [c, allowed]; } }
// @ts-expect-error: not an algorithm
await generate("HS128");
// @ts-expect-error: claims.publish is a string[]
export const n: number = claims.publish;
// The spellings of a token, and a key from load without await.
const loaded = load("key file text");
export const t2: Promise<string> = sign(loaded, { path: "a", pub: "alice", sub: "", exp: 1800000000 });
export const t3: Promise<string> = sign(loaded, { root: "a", put: ["x"], get: "", subscribe: undefined });
// @ts-expect-error: not a claim name
sign(loaded, { root: "a", pubish: "alice" });
// @ts-expect-error: pub is a list of paths
sign(loaded, { root: "a", pub: 5 });
`,
		);
		writeFileSync(
			join(app, "tsconfig.json"),
			JSON.stringify({
				compilerOptions: {
					target: "ES2022",
					module: "nodenext",
					moduleResolution: "nodenext",
					lib: ["ES2022"],
					types: [],
					strict: true,
					noEmit: true,
					skipLibCheck: false,
				},
				files: ["check.ts"],
			}),
		);
		const tsc = sh(process.execPath, [join(PKG, "node_modules/typescript/bin/tsc"), "-p", app], app);
		assert.equal(tsc.status, 0, `tsc --noEmit failed:\n${tsc.stdout}${tsc.stderr}`);
	} finally {
		rmSync(tmp, { recursive: true, force: true });
	}
});
