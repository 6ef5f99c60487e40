// The pack check (pack-check.ts) on this package as `npm pack` would pack it now, and on broken
// tarballs, so that each of its refusals is known to fire.

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";
import { PUBLISHED, type Pack, type Repo, compareVersions, dryRun, packProblems, registryVersion, thisRepo } from "./pack-check.js";

test("npm pack --dry-run: license texts, types, source maps that resolve, repository, version above the registry's", () => {
	const pack = dryRun();
	assert.deepEqual(packProblems(pack, thisRepo(), PUBLISHED), []);
	assert.ok(compareVersions(String(pack.manifest.version), PUBLISHED) > 0);
	for (const f of ["LICENSE", "LICENSE-MIT", "LICENSE-APACHE", "dist/index.d.ts", "dist/index.js.map", "src/index.ts"]) {
		assert.ok(pack.files.includes(f), f);
	}
});

test("versions order as semver does", () => {
	for (const [a, b] of [
		["0.2.3", "0.3.0"],
		["0.2.3", "0.2.10"],
		["0.9.9", "1.0.0"],
		["0.3.0-rc.1", "0.3.0"],
		["0.3.0-alpha", "0.3.0-alpha.1"],
		["0.3.0-alpha.2", "0.3.0-alpha.10"],
		["0.3.0-1", "0.3.0-alpha"],
		["0.2.3", "0.3.0-rc.1"],
	]) {
		assert.equal(compareVersions(a, b), -1, `${a} < ${b}`);
		assert.equal(compareVersions(b, a), 1, `${b} > ${a}`);
	}
	assert.equal(compareVersions("0.3.0+build.5", "0.3.0"), 0);
	assert.throws(() => compareVersions("0.3", "0.3.0"), /not a semver version/);
});

/** A tarball with everything right, as files in memory. */
function good(): { pack: Pack; repo: Repo; files: Map<string, string> } {
	const map = (source: string) => JSON.stringify({ version: 3, sources: [source], sourceRoot: "", mappings: "" });
	const files = new Map<string, string>([
		["package.json", "{}"],
		["LICENSE", "either"],
		["LICENSE-MIT", "mit"],
		["LICENSE-APACHE", "apache"],
		["dist/index.js", "export {};\n//# sourceMappingURL=index.js.map"],
		["dist/index.js.map", map("../src/index.ts")],
		["dist/index.d.ts", "export {};\n//# sourceMappingURL=index.d.ts.map"],
		["dist/index.d.ts.map", map("../src/index.ts")],
		["src/index.ts", "export {};"],
	]);
	const manifest = {
		name: "@moq/token",
		version: "0.3.0",
		license: "MIT OR Apache-2.0",
		types: "./dist/index.d.ts",
		exports: { ".": { types: "./dist/index.d.ts", import: "./dist/index.js" } },
		repository: { type: "git", url: "git+https://example.org/moq.git", directory: "js/token" },
	};
	const top: Record<string, string> = { LICENSE: "either", "LICENSE-MIT": "mit", "LICENSE-APACHE": "apache" };
	return {
		files,
		pack: {
			manifest,
			get files() {
				return [...files.keys()];
			},
			read: (p) => files.get(p) ?? assert.fail(`read of an unpacked file ${p}`),
		},
		repo: { repository: "https://example.org/moq", license: (n) => top[n] },
	};
}

test("the pack check refuses each thing that kept the package from being published, one at a time", () => {
	const ok = good();
	assert.deepEqual(packProblems(ok.pack, ok.repo, "0.2.3"), []);
	assert.deepEqual(packProblems(ok.pack, ok.repo, undefined), [], "never published: any version");

	const cases: [string, (t: ReturnType<typeof good>) => void, RegExp][] = [
		["a version that sorts below the registry's", (t) => (t.pack.manifest.version = "0.1.0"), /version 0\.1\.0 is not above 0\.2\.3/],
		["the same version as the registry's", (t) => (t.pack.manifest.version = "0.2.3"), /version 0\.2\.3 is not above 0\.2\.3/],
		["a pre-release of the registry's", (t) => (t.pack.manifest.version = "0.2.3-rc.1"), /not above 0\.2\.3/],
		["no LICENSE", (t) => t.files.delete("LICENSE-MIT"), /^LICENSE-MIT is not in the tarball$/],
		["a stale license copy", (t) => t.files.set("LICENSE-APACHE", "old"), /LICENSE-APACHE differs/],
		["another license", (t) => (t.pack.manifest.license = "MIT"), /license is "MIT"/],
		["maps pointing at unshipped ../src", (t) => t.files.delete("src/index.ts"), /dist\/index\.js\.map maps to src\/index\.ts, which is not in the tarball/],
		["a map that is not packed", (t) => t.files.delete("dist/index.js.map"), /points at the source map dist\/index\.js\.map/],
		["a map that is not JSON", (t) => t.files.set("dist/index.js.map", "{"), /not a JSON source map/],
		["no repository field", (t) => delete t.pack.manifest.repository, /^no repository field$/],
		["another repository", (t) => (t.pack.manifest.repository = "github:moq-dev/moq"), /not the workspace's repository/],
		["no types", (t) => t.files.delete("dist/index.d.ts"), /types names dist\/index\.d\.ts, which is not in the tarball/],
		["types that are not .d.ts", (t) => (t.pack.manifest.types = "./dist/index.js"), /^types does not name a \.d\.ts file$/],
		["tests packed", (t) => t.files.set("dist/test/api.test.js", ""), /dist\/test\/api\.test\.js should not be packed/],
	];
	for (const [what, breakIt, expected] of cases) {
		const t = good();
		breakIt(t);
		const problems = packProblems(t.pack, t.repo, "0.2.3");
		assert.ok(problems.some((p) => expected.test(p)), `${what}: ${JSON.stringify(problems)}`);
	}
	// A map whose sources are inlined needs no source file.
	const inline = good();
	inline.files.delete("src/index.ts");
	for (const f of ["dist/index.js.map", "dist/index.d.ts.map"]) {
		inline.files.set(f, JSON.stringify({ version: 3, sources: ["../src/index.ts"], sourcesContent: ["export {};"], mappings: "" }));
	}
	assert.deepEqual(packProblems(inline.pack, inline.repo, "0.2.3"), []);
});

test("an unreachable registry is an error that says so, never a pass", async () => {
	// A port that was just free and is closed now: the connection is refused at once.
	const server = createServer();
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as { port: number };
	await new Promise<void>((resolve) => server.close(() => resolve()));
	assert.throws(
		() => registryVersion("@moq/token", { registry: `http://127.0.0.1:${port}/`, retries: 0 }),
		/the npm registry did not answer `npm view @moq\/token version`.*retry when the registry is reachable/,
	);
});
