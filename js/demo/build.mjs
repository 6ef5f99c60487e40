// Builds the relay's demo page into rs/moq-relay/assets/demo/ (embedded by the relay with
// include_bytes): index.html, demo.js, status.html, status.js. Minified, no source maps, and
// deterministic: the same sources and node_modules give byte-identical files.
//
//   cd js/demo && npm ci && node build.mjs

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
// DEMO_OUT: another directory (tests/it/demo.rs builds there and compares with the committed files).
const out = process.env.DEMO_OUT ?? join(here, "..", "..", "rs", "moq-relay", "assets", "demo");
const TARGET = ["chrome111", "firefox115", "safari16.4"];

await mkdir(out, { recursive: true });

// The scripts: each one ES module with everything it imports (no external URLs).
for (const name of ["demo", "status"]) {
	const result = await esbuild.build({
		entryPoints: [join(src, `${name}.js`)],
		bundle: true,
		format: "esm",
		platform: "browser",
		target: TARGET,
		minify: true,
		sourcemap: false,
		legalComments: "none",
		charset: "ascii",
		write: false,
		logLevel: "warning",
	});
	await writeFile(join(out, `${name}.js`), result.outputFiles[0].contents);
}

// The pages: the shared stylesheet, minified, goes inline in place of /* STYLE */.
const css = (await esbuild.transform(await readFile(join(src, "style.css"), "utf8"), { loader: "css", minify: true, target: TARGET }))
	.code.trim();
for (const name of ["index", "status"]) {
	const html = await readFile(join(src, `${name}.html`), "utf8");
	const marker = /<style>\s*\/\* STYLE \*\/\s*<\/style>/;
	if (!marker.test(html)) throw new Error(`${name}.html: no <style>/* STYLE */</style> to fill`);
	const page = html
		.replace(marker, () => `<style>${css}</style>`)
		.replace(/^\s+/gm, "")
		.replace(/>\n</g, "><");
	await writeFile(join(out, `${name}.html`), page);
}

console.log(`built ${out}`);
