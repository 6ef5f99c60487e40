// The Rust CLI (`moq-token`, crate rs/moq-token-cli) for the cross-language tests: $MOQ_TOKEN_BIN,
// else `debug/moq-token` in $CARGO_TARGET_DIR (where `cargo build` puts it when that is set), else
// `../../target/debug/moq-token` (relative to js/token). When it is missing it is built with
// `cargo build -p moq-token-cli`; the tests fail (never skip) if that fails.

import assert from "node:assert/strict";
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PKG = fileURLToPath(new URL("../../", import.meta.url));
const REPO = resolve(PKG, "../..");
const TARGET = process.env.CARGO_TARGET_DIR ? resolve(REPO, process.env.CARGO_TARGET_DIR) : join(REPO, "target");
const BIN = process.env.MOQ_TOKEN_BIN ? resolve(process.env.MOQ_TOKEN_BIN) : join(TARGET, "debug/moq-token");

/** The path of the CLI binary, built first if it is missing. */
export function rustCli(): string {
	if (!existsSync(BIN)) {
		assert.ok(!process.env.MOQ_TOKEN_BIN, `MOQ_TOKEN_BIN=${BIN} does not exist`);
		const build = spawnSync("cargo", ["build", "-p", "moq-token-cli"], { cwd: REPO, stdio: "inherit" });
		assert.equal(build.status, 0, `cargo build -p moq-token-cli failed (${build.error ?? build.status})`);
	}
	assert.ok(existsSync(BIN), `the moq-token CLI is not at ${BIN}`);
	return BIN;
}

/** Run the CLI in `cwd` with `input` on stdin. */
export function runCli(cwd: string, args: string[], input?: string): SpawnSyncReturns<string> {
	const r = spawnSync(rustCli(), args, { input: input ?? "", encoding: "utf8", cwd, timeout: 120_000 });
	if (r.error) throw r.error;
	return r;
}

/** Run the CLI and return its stdout; it must exit 0. */
export function cliOk(cwd: string, args: string[], input?: string): string {
	const r = runCli(cwd, args, input);
	assert.equal(r.status, 0, `moq-token ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
	return r.stdout;
}
