import { fail, keyError } from "./error.js";
import type { Claims } from "./claims.js";
import { Path, joinNormalized, stripNormalized } from "./path.js";

/**
 * A key's scope (upstream's JWK field `{root, put, get}`): the ceiling on what tokens of the key
 * may grant. Enforced when signing and when verifying (`scope_exceeded`).
 */
export interface Scope {
	root: string;
	publish: string[];
	subscribe: string[];
}

/** @internal Read the JWK `scope` field. */
export function scopeFromJson(value: unknown): Scope {
	const invalid = (reason: string): never => keyError(`invalid field "scope": ${reason}`);
	if (typeof value !== "object" || value === null || Array.isArray(value)) invalid("must be an object");
	const obj = value as Record<string, unknown>;
	const path = (s: string): string => {
		try {
			return Path.normalize(s);
		} catch (e) {
			return invalid((e as Error).message);
		}
	};
	let root = "";
	if (Object.hasOwn(obj, "root") && obj.root !== undefined) {
		if (typeof obj.root !== "string") invalid("root must be a string");
		root = path(obj.root as string);
	}
	const list = (name: string): string[] => {
		if (!Object.hasOwn(obj, name) || obj[name] === undefined) return [];
		const v = obj[name];
		if (typeof v === "string") return [path(v)];
		if (Array.isArray(v)) {
			return v.map((p) => (typeof p === "string" ? path(p) : invalid("prefixes must be strings")));
		}
		return invalid("put/get must be a string or an array of strings");
	};
	const scope = { root, publish: list("put"), subscribe: list("get") };
	if (scope.publish.length === 0 && scope.subscribe.length === 0) {
		invalid("a scope that allows neither put nor get makes the key useless");
	}
	return scope;
}

/** @internal The JWK `scope` field. */
export function scopeToJson(scope: Scope): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	if (scope.publish.length > 0) out.put = [...scope.publish];
	if (scope.root !== "") out.root = scope.root;
	if (scope.subscribe.length > 0) out.get = [...scope.subscribe];
	return sortKeys(out);
}

/** @internal */
export function sortKeys(obj: Record<string, unknown>): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	for (const k of Object.keys(obj).sort()) out[k] = obj[k];
	return out;
}

/** @internal Refuse claims that grant more than the scope, role by role, comparing absolute paths. */
export function checkScope(scope: Scope, claims: Claims): void {
	covers(scope.root, scope.publish, claims.root, claims.publish, "publish");
	covers(scope.root, scope.subscribe, claims.root, claims.subscribe, "subscribe");
}

function covers(scopeRoot: string, allowed: string[], root: string, requested: string[], role: string): void {
	for (const want of requested) {
		const abs = joinNormalized(root, want);
		if (!allowed.some((a) => stripNormalized(abs, joinNormalized(scopeRoot, a)) !== undefined)) {
			fail(
				"scope_exceeded",
				`token grants more than the key's scope allows (${role} ${JSON.stringify(abs)} is outside the key's scope)`,
			);
		}
	}
}
