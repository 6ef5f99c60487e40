import type { Claims } from "./claims.js";
import { fail } from "./error.js";
import { Path, stripNormalized } from "./path.js";
import { matches, rebaseAll } from "./pattern.js";

/** What a session connected at one path may publish and subscribe, relative to that path. */
export interface Permissions {
	/** Publish patterns relative to the connection path; `**` means everything. */
	readonly publish: string[];
	/** Subscribe patterns relative to the connection path; `**` means everything. */
	readonly subscribe: string[];
	/** Whether the session may publish (announce) `path`, relative to its connection path. An invalid path (`../x`) is never allowed. */
	canPublish(path: string): boolean;
	/** Whether the session may subscribe to `path`, relative to its connection path. An invalid path is never allowed. */
	canSubscribe(path: string): boolean;
}

/**
 * Authorize a connection at `connect` (the URL path) with verified claims (docs/tokens.md#authorizing-a-connection).
 *
 * The connection path must be the root or below it (`root_mismatch`); each pattern is re-based to
 * it as upstream re-bases it (what it matches below the connection path, relative to it). Nothing
 * left is `no_access`. An invalid connection path (`..`) is `invalid_path`.
 */
export function authorize(claims: Claims, connect: string): Permissions {
	const path = Path.normalize(connect);
	const root = Path.normalize(claims.root);
	const below = stripNormalized(path, root);
	if (below === undefined) {
		fail(
			"root_mismatch",
			`connection path ${JSON.stringify(path)} is not within the token root ${JSON.stringify(root)}: connect to /${root} or below`,
		);
	}
	const publish = rebaseAll(claims.publish, below);
	const subscribe = rebaseAll(claims.subscribe, below);
	if (publish.length === 0 && subscribe.length === 0) {
		fail("no_access", `the token allows nothing at ${JSON.stringify(path)}`);
	}
	const allows = (patterns: string[], p: string): boolean => patterns.some((pattern) => matches(pattern, p));
	return {
		publish,
		subscribe,
		canPublish: (p: string) => allows(publish, p),
		canSubscribe: (p: string) => allows(subscribe, p),
	};
}
