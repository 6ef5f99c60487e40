import { fail, keyError } from "./error.js";
import type { Claims } from "./claims.js";
import { Path } from "./path.js";
import { asPrefix, canonical, contains, rooted, subtree, union } from "./pattern.js";

/**
 * A key's scope (upstream's JWK field `{root, put, get}` or `{root, publish, subscribe}`): the
 * ceiling on what tokens of the key may grant, as pattern unions relative to `root`. Enforced when
 * signing and when verifying (`scope_exceeded`).
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
	const has = (name: string) => Object.hasOwn(obj, name) && obj[name] !== undefined;
	const list = (name: string, one: (s: string) => string): string[] => {
		if (!has(name)) return [];
		const v = obj[name];
		const each = (p: unknown) => {
			if (typeof p !== "string") return invalid("prefixes and patterns must be strings");
			try {
				return one(p);
			} catch (e) {
				return invalid((e as Error).message);
			}
		};
		if (typeof v === "string") return union([each(v)]);
		if (Array.isArray(v)) return union(v.map(each));
		return invalid("put/get/publish/subscribe must be a string or an array of strings");
	};
	const modern = has("publish") || has("subscribe");
	if (modern && (has("put") || has("get"))) invalid("mixes put/get with publish/subscribe");
	const prefix = (p: string) => subtree(path(p));
	const scope = modern
		? { root, publish: list("publish", canonical), subscribe: list("subscribe", canonical) }
		: { root, publish: list("put", prefix), subscribe: list("get", prefix) };
	if (scope.publish.length === 0 && scope.subscribe.length === 0) {
		invalid("a scope that allows neither put nor get makes the key useless");
	}
	return scope;
}

/** @internal The JWK `scope` field. */
export function scopeToJson(scope: Scope): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	const prefixes = (list: string[]) => {
		const out: string[] = [];
		for (const p of list) {
			const prefix = asPrefix(p);
			if (prefix === undefined) return undefined;
			out.push(prefix);
		}
		return out;
	};
	const put = prefixes(scope.publish);
	const get = prefixes(scope.subscribe);
	if (put && get) {
		if (put.length > 0) out.put = put;
		if (get.length > 0) out.get = get;
	} else {
		if (scope.publish.length > 0) out.publish = [...scope.publish];
		if (scope.subscribe.length > 0) out.subscribe = [...scope.subscribe];
	}
	if (scope.root !== "") out.root = scope.root;
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
	const place = (p: string, at: string): string | undefined => {
		try {
			return rooted(p, at);
		} catch {
			return undefined;
		}
	};
	const ceiling = allowed.map((a) => place(a, scopeRoot));
	for (const want of requested) {
		const abs = place(want, root) ?? want;
		if (!ceiling.some((a) => a !== undefined && contains(a, abs))) {
			fail(
				"scope_exceeded",
				`token grants more than the key's scope allows (${role} ${JSON.stringify(abs)} is outside the key's scope)`,
			);
		}
	}
}
