import { TokenError } from "./error.js";

/**
 * Normalized broadcast paths and segment-wise prefix matching (docs/tokens.md#paths).
 *
 * A normalized path has no empty segments (no leading, trailing or doubled `/`); `""` is the top.
 * A segment of `.` or `..` is refused (`invalid_path`): paths are names, never file-system paths.
 */
export const Path = {
	/** The top path. */
	root: "" as const,

	/** Normalize and validate: `"//a///b/"` is `"a/b"`, `"/"` is `""`, `"a/../b"` throws `invalid_path`. */
	normalize(path: string): string {
		if (typeof path !== "string") {
			throw new TokenError("invalid_path", `invalid path ${String(path)}: must be a string`);
		}
		const segments = path.split("/").filter((s) => s.length > 0);
		for (const s of segments) {
			if (s === "." || s === "..") {
				throw new TokenError(
					"invalid_path",
					`invalid path ${JSON.stringify(path)}: \`.\` and \`..\` segments are not allowed`,
				);
			}
		}
		return segments.join("/");
	},

	/** Whether `path` is valid (normalizes without error). */
	isValid(path: string): boolean {
		try {
			Path.normalize(path);
			return true;
		} catch {
			return false;
		}
	},

	/** Join with an implicit `/` between non-empty parts (both normalized first). */
	join(base: string, rest: string): string {
		const a = Path.normalize(base);
		const b = Path.normalize(rest);
		if (a === "") return b;
		if (b === "") return a;
		return `${a}/${b}`;
	},

	/** Whether `prefix` covers `path` by whole segments: `alice` covers `alice` and `alice/cam`, never `alicex`. */
	hasPrefix(path: string, prefix: string): boolean {
		return Path.stripPrefix(path, prefix) !== undefined;
	},

	/** The rest of `path` below `prefix` (normalized), or `undefined` when `prefix` does not cover it. */
	stripPrefix(path: string, prefix: string): string | undefined {
		return stripNormalized(Path.normalize(path), Path.normalize(prefix));
	},
};

/** @internal Both arguments already normalized. */
export function stripNormalized(path: string, prefix: string): string | undefined {
	if (prefix === "") return path;
	if (!path.startsWith(prefix)) return undefined;
	const rest = path.slice(prefix.length);
	if (rest === "") return "";
	return rest.startsWith("/") ? rest.slice(1) : undefined;
}

/** @internal Both arguments already normalized. */
export function joinNormalized(a: string, b: string): string {
	if (a === "") return b;
	if (b === "") return a;
	return `${a}/${b}`;
}
