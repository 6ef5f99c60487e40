// Whether `npm pack` makes a tarball fit to publish: the license texts, the types, source maps
// whose sources are in the tarball, a `repository`, and a version above the one on the registry.
//
//   node dist/test/pack-check.js              the version recorded below (npm test: no network)
//   node dist/test/pack-check.js --registry   the version the registry has now (prepublishOnly);
//                                             fails when the registry does not answer
//
// Why two: `npm test` must give the same verdict offline and tomorrow, so it compares with the
// version recorded here. The live question only matters when publishing, and publishing needs the
// registry anyway, so `npm publish` asks it (prepublishOnly) and stops if it cannot. When a version
// is published, record it here.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";

/** The newest @moq/token on the npm registry (`npm view @moq/token version`, 2026-12-02). */
export const PUBLISHED = "0.2.3";

/** The license texts the tarball carries, identical to those at the top of the repository. */
export const LICENSE_FILES = ["LICENSE", "LICENSE-MIT", "LICENSE-APACHE"];

/** What the check needs to know about a tarball. */
export interface Pack {
	/** The package.json as packed. */
	manifest: Record<string, unknown>;
	/** The paths in the tarball, relative to the package root. */
	files: string[];
	/** The text of a packed file. */
	read(path: string): string;
}

/** The repository's own facts the package must agree with. */
export interface Repo {
	/** The workspace's `repository` (Cargo.toml). */
	repository: string;
	/** The text of a license file at the top of the repository, if present. */
	license(name: string): string | undefined;
}

/** `-1`, `0` or `1` as semver orders `a` and `b` (numeric core, then a release above its pre-releases). */
export function compareVersions(a: string, b: string): number {
	const parse = (v: string) => {
		const m = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(v);
		if (!m) throw new Error(`not a semver version: ${JSON.stringify(v)}`);
		return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4]?.split(".") };
	};
	const x = parse(a);
	const y = parse(b);
	for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return x.core[i] < y.core[i] ? -1 : 1;
	if (!x.pre || !y.pre) return x.pre ? -1 : y.pre ? 1 : 0;
	for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i++) {
		const [p, q] = [x.pre[i], y.pre[i]];
		if (p === undefined || q === undefined) return p === undefined ? -1 : 1;
		if (p === q) continue;
		const [pn, qn] = [/^\d+$/.test(p), /^\d+$/.test(q)];
		if (pn && qn) return Number(p) < Number(q) ? -1 : 1;
		if (pn !== qn) return pn ? -1 : 1;
		return p < q ? -1 : 1;
	}
	return 0;
}

/** Everything that keeps the tarball from being published; empty when it is fit. */
export function packProblems(pack: Pack, repo: Repo, published: string | undefined): string[] {
	const problems: string[] = [];
	const files = new Set(pack.files);
	const m = pack.manifest;

	for (const name of LICENSE_FILES) {
		if (!files.has(name)) {
			problems.push(`${name} is not in the tarball`);
			continue;
		}
		const top = repo.license(name);
		if (top === undefined) problems.push(`${name} is not at the top of the repository to compare with`);
		else if (pack.read(name) !== top) problems.push(`${name} differs from the repository's ${name}: copy it again`);
	}
	if (m.license !== "MIT OR Apache-2.0") problems.push(`license is ${JSON.stringify(m.license)}, not "MIT OR Apache-2.0"`);

	const exportsTypes = (m.exports as { "."?: { types?: string } } | undefined)?.["."]?.types;
	for (const [field, path] of [["types", m.types], ['exports["."].types', exportsTypes]] as const) {
		const file = typeof path === "string" ? posix.normalize(path) : undefined;
		if (!file || !file.endsWith(".d.ts")) problems.push(`${field} does not name a .d.ts file`);
		else if (!files.has(file)) problems.push(`${field} names ${file}, which is not in the tarball`);
	}
	for (const f of pack.files) {
		if (f.endsWith(".js") && !files.has(f.replace(/\.js$/, ".d.ts"))) problems.push(`${f} has no .d.ts beside it`);
		if (/^(src|dist)\/test\/|(^|\/)node_modules\/|\.tsbuildinfo$|\.tgz$/.test(f)) problems.push(`${f} should not be packed`);
	}

	// Source maps: every map a packed file points at is packed, and every source it names is packed
	// (or inlined in sourcesContent): a debugger or an editor must never look for a missing file.
	for (const f of pack.files) {
		if (/\.(js|d\.ts)$/.test(f)) {
			const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(pack.read(f))?.[1];
			if (url && !url.startsWith("data:")) {
				const map = posix.join(posix.dirname(f), url);
				if (!files.has(map)) problems.push(`${f} points at the source map ${map}, which is not in the tarball`);
			}
		}
		if (!f.endsWith(".map")) continue;
		let map: { sources?: unknown; sourceRoot?: unknown; sourcesContent?: unknown };
		try {
			map = JSON.parse(pack.read(f));
		} catch {
			problems.push(`${f} is not a JSON source map`);
			continue;
		}
		const sources = Array.isArray(map.sources) ? map.sources : [];
		const contents = Array.isArray(map.sourcesContent) ? map.sourcesContent : [];
		if (sources.length === 0) problems.push(`${f} names no sources`);
		const root = typeof map.sourceRoot === "string" ? map.sourceRoot : "";
		sources.forEach((source: unknown, i: number) => {
			if (typeof contents[i] === "string") return;
			const path = posix.normalize(posix.join(posix.dirname(f), root, String(source)));
			if (!files.has(path)) problems.push(`${f} maps to ${path}, which is not in the tarball`);
		});
	}

	const repository = m.repository as { url?: unknown; directory?: unknown } | string | undefined;
	const url = typeof repository === "string" ? repository : repository?.url;
	if (typeof url !== "string" || url === "") problems.push("no repository field");
	else if (!url.replace(/^git\+/, "").replace(/\.git$/, "").startsWith(repo.repository)) {
		problems.push(`repository ${url} is not the workspace's repository ${repo.repository} (Cargo.toml)`);
	} else if (typeof repository === "object" && repository.directory !== "js/token") {
		problems.push('repository.directory is not "js/token"');
	}

	const version = String(m.version);
	try {
		if (published !== undefined && compareVersions(version, published) <= 0) {
			problems.push(`version ${version} is not above ${published}, the newest on the registry: raise it`);
		}
	} catch (e) {
		problems.push((e as Error).message);
	}
	return problems;
}

const PKG = fileURLToPath(new URL("../../", import.meta.url));
const REPO = join(PKG, "../..");

/** The environment without the variables `npm` sets for a running script, so nested npm runs see their own. */
export function cleanEnv(): NodeJS.ProcessEnv {
	const env: NodeJS.ProcessEnv = {};
	for (const [k, v] of Object.entries(process.env)) {
		if (/^npm_(package|lifecycle)_|^npm_config_(local_prefix|prefix|global|argv|dry_run|json)$|^INIT_CWD$/i.test(k)) continue;
		env[k] = v;
	}
	return env;
}

/** What `npm pack` would put in the tarball now (scripts not run: build first). */
export function dryRun(): Pack {
	const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
		cwd: PKG,
		encoding: "utf8",
		env: cleanEnv(),
		timeout: 120_000,
	});
	if (r.error) throw r.error;
	if (r.status !== 0) throw new Error(`npm pack --dry-run failed (${r.status}): ${r.stderr}`);
	const [info] = JSON.parse(r.stdout) as [{ files: { path: string }[] }];
	return {
		manifest: JSON.parse(readFileSync(join(PKG, "package.json"), "utf8")),
		files: info.files.map((f) => f.path),
		read: (path) => readFileSync(join(PKG, path), "utf8"),
	};
}

/** The repository facts, read from the checkout. */
export function thisRepo(): Repo {
	const cargo = readFileSync(join(REPO, "Cargo.toml"), "utf8");
	const repository = /^\s*repository\s*=\s*"([^"]+)"/m.exec(cargo)?.[1];
	if (!repository) throw new Error("the workspace Cargo.toml has no repository");
	return {
		repository,
		license: (name) => (existsSync(join(REPO, name)) ? readFileSync(join(REPO, name), "utf8") : undefined),
	};
}

/**
 * The newest version of `name` on the registry, `undefined` if it was never published. Throws
 * (never guesses) when the registry does not answer.
 */
export function registryVersion(name: string, options: { registry?: string; retries?: number } = {}): string | undefined {
	const args = ["view", name, "version", "--json", `--fetch-retries=${options.retries ?? 1}`];
	if (options.registry) args.push(`--registry=${options.registry}`);
	const r = spawnSync("npm", args, { encoding: "utf8", env: cleanEnv(), timeout: 90_000 });
	if (r.status === 0 && r.stdout.trim() !== "") return JSON.parse(r.stdout) as string;
	if (/E404/.test(`${r.stdout}${r.stderr}`)) return undefined;
	throw new Error(
		`the npm registry did not answer \`npm view ${name} version\` (${r.error?.message ?? `exit ${r.status}`}): ` +
			"cannot tell whether this version is above the published one; retry when the registry is reachable",
	);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
	const live = process.argv.includes("--registry");
	const pack = dryRun();
	let published: string | undefined;
	try {
		published = live ? registryVersion(String(pack.manifest.name)) : PUBLISHED;
	} catch (e) {
		console.error(`pack check: ${(e as Error).message}`);
		process.exit(1);
	}
	const problems = packProblems(pack, thisRepo(), published);
	for (const p of problems) console.error(`pack check: ${p}`);
	if (problems.length > 0) process.exit(1);
	console.log(
		`pack check: ${pack.manifest.name}@${pack.manifest.version} (${pack.files.length} files) is fit to publish; ` +
			`the registry ${live ? "has" : "had (recorded)"} ${published ?? "no version"}`,
	);
}
