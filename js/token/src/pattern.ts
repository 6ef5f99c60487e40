import { TokenError } from "./error.js";
import { Path } from "./path.js";

/**
 * Path patterns, the grants of upstream's pattern tokens (docs/tokens.md#patterns), with the rules of
 * the published `moq-pattern` crate, as the Rust crate implements them: `/`-separated segments, each a
 * literal, `*` (one whole segment), `pre*suf` (one segment with that start and end, not overlapping)
 * or `**` (any run of zero or more segments, at most once). `alice` is one broadcast, `alice/**` it and
 * everything below, `**` everything. A pattern is held as its canonical text.
 */

type Segment =
	| { k: "lit"; v: string }
	| { k: "star" }
	| { k: "part"; p: string; s: string }
	| { k: "glob" };

/** The most segments a pattern may have. */
export const MAX_SEGMENTS = 32;

function invalid(reason: string): never {
	throw new TokenError("invalid_claim", `not a pattern: ${reason}`);
}

function segmentText(s: Segment): string {
	switch (s.k) {
		case "lit":
			return s.v;
		case "star":
			return "*";
		case "part":
			return `${s.p}*${s.s}`;
		case "glob":
			return "**";
	}
}

function parseSegment(text: string): Segment {
	if (text === "") invalid("empty segment (a leading, trailing or doubled '/')");
	if (text === "*") return { k: "star" };
	if (text === "**") return { k: "glob" };
	const star = text.indexOf("*");
	if (star < 0) return { k: "lit", v: text };
	if (text.indexOf("*", star + 1) >= 0) invalid(`invalid segment ${JSON.stringify(text)}`);
	return { k: "part", p: text.slice(0, star), s: text.slice(star + 1) };
}

/** Validate and canonicalize segments: `**` moves before adjacent `*`. */
function build(segments: Segment[]): Segment[] {
	if (segments.length > MAX_SEGMENTS) invalid(`more than ${MAX_SEGMENTS} segments`);
	let glob = -1;
	segments.forEach((s, i) => {
		if (s.k === "lit" && (s.v === "" || s.v.includes("*") || s.v.includes("/"))) invalid(`invalid segment ${JSON.stringify(s.v)}`);
		if (s.k === "part" && ((s.p === "" && s.s === "") || /[*/]/u.test(s.p + s.s))) invalid(`invalid segment ${JSON.stringify(segmentText(s))}`);
		if (s.k === "glob") {
			if (glob >= 0) invalid("more than one '**'");
			glob = i;
		}
	});
	const out = [...segments];
	if (glob >= 0) {
		while (glob > 0 && out[glob - 1].k === "star") {
			[out[glob - 1], out[glob]] = [out[glob], out[glob - 1]];
			glob--;
		}
	}
	return out;
}

function parse(text: string): Segment[] {
	if (typeof text !== "string") invalid("must be a string");
	if (text === "") return [];
	return build(text.split("/").map(parseSegment));
}

function toText(segments: Segment[]): string {
	return segments.map(segmentText).join("/");
}

/** UTF-8 byte length, as the Rust crate measures a partial segment. */
function bytes(s: string): number {
	return new TextEncoder().encode(s).length;
}

function segMatches(s: Segment, part: string): boolean {
	switch (s.k) {
		case "lit":
			return s.v === part;
		case "star":
			return true;
		case "part":
			return bytes(part) >= bytes(s.p) + bytes(s.s) && part.startsWith(s.p) && part.endsWith(s.s);
		case "glob":
			return false;
	}
}

function covers(a: Segment, b: Segment): boolean {
	if (a.k === "glob" || b.k === "glob") return false;
	if (a.k === "star") return true;
	if (a.k === "lit") return b.k === "lit" && a.v === b.v;
	if (b.k === "lit") return segMatches(a, b.v);
	if (b.k === "part") return b.p.startsWith(a.p) && b.s.endsWith(a.s);
	return false;
}

function compatible(a: Segment, b: Segment): boolean {
	if (a.k === "part" && b.k === "part") {
		return (a.p.startsWith(b.p) || b.p.startsWith(a.p)) && (a.s.endsWith(b.s) || b.s.endsWith(a.s));
	}
	return covers(a, b) || covers(b, a);
}

function split(segments: Segment[]): [Segment[], Segment[]] | undefined {
	const at = segments.findIndex((s) => s.k === "glob");
	return at < 0 ? undefined : [segments.slice(0, at), segments.slice(at + 1)];
}

const run = (segments: Segment[], parts: string[]) => segments.every((s, i) => i >= parts.length || segMatches(s, parts[i]));

function matchesParts(segments: Segment[], parts: string[]): boolean {
	const ht = split(segments);
	if (!ht) return parts.length === segments.length && run(segments, parts);
	const [head, tail] = ht;
	return parts.length >= head.length + tail.length && run(head, parts) && run(tail, parts.slice(parts.length - tail.length));
}

function containsSegs(a: Segment[], b: Segment[]): boolean {
	const all = (x: Segment[], y: Segment[]) => x.every((s, i) => i >= y.length || covers(s, y[i]));
	const ha = split(a);
	const hb = split(b);
	if (!ha && !hb) return a.length === b.length && all(a, b);
	if (!ha) return false;
	const [head, tail] = ha;
	if (!hb) {
		return b.length >= head.length + tail.length && all(head, b) && all(tail, b.slice(b.length - tail.length));
	}
	const [oh, ot] = hb;
	const front = head.every((s, i) => (i < oh.length ? covers(s, oh[i]) : s.k === "star"));
	const rt = [...tail].reverse();
	const rot = [...ot].reverse();
	const back = rt.every((s, i) => (i < rot.length ? covers(s, rot[i]) : s.k === "star"));
	return head.length + tail.length <= oh.length + ot.length && front && back;
}

function overlapsSegs(a: Segment[], b: Segment[]): boolean {
	const front = (x: Segment[], y: Segment[]) => x.every((s, i) => i >= y.length || compatible(s, y[i]));
	const back = (x: Segment[], y: Segment[]) => front([...x].reverse(), [...y].reverse());
	const ha = split(a);
	const hb = split(b);
	if (!ha && !hb) return a.length === b.length && front(a, b);
	if (!ha) return overlapsSegs(b, a);
	const [head, tail] = ha;
	if (!hb) return b.length >= head.length + tail.length && front(head, b) && back(tail, b);
	return front(head, hb[0]) && back(tail, hb[1]);
}

/** Parse a pattern (strict: a leading, trailing or doubled `/` is refused) into its canonical text; throws `invalid_claim`. */
export function canonical(text: string): string {
	return toText(parse(text));
}

/** The subtree of a prefix (`alice` is `alice/**`, `""` is `**`); a `*` in a segment is refused (`invalid_claim`). */
export function subtree(prefix: string): string {
	const parts = Path.normalize(prefix).split("/").filter((s) => s !== "");
	const segments: Segment[] = parts.map((v) => ({ k: "lit", v }));
	if (segments.length < MAX_SEGMENTS) segments.push({ k: "glob" });
	return toText(build(segments));
}

/** The prefix a pattern is the subtree of (`a/b/**` is `a/b`, `**` is `""`), or `undefined`. */
export function asPrefix(pattern: string): string | undefined {
	const segments = parse(pattern);
	const last = segments[segments.length - 1];
	if (!last || last.k !== "glob" || !segments.slice(0, -1).every((s) => s.k === "lit")) return undefined;
	return Path.isValid(pattern.slice(0, -2)) ? Path.normalize(pattern.slice(0, -2)) : undefined;
}

/** Whether `path` (normalized first; an invalid path never matches) is one of the pattern's paths. */
export function matches(pattern: string, path: string): boolean {
	if (!Path.isValid(path)) return false;
	const parts = Path.normalize(path).split("/").filter((s) => s !== "");
	return matchesParts(parse(pattern), parts);
}

/** Whether every path of `inner` is a path of `outer`. */
export function contains(outer: string, inner: string): boolean {
	return containsSegs(parse(outer), parse(inner));
}

/** Whether some path is a path of both. */
export function overlaps(a: string, b: string): boolean {
	return overlapsSegs(parse(a), parse(b));
}

/** Add a pattern to a union (canonical texts, sorted by UTF-8 bytes), dropping members it contains. */
export function insert(union: string[], pattern: string): string[] {
	if (union.some((m) => contains(m, pattern))) return union;
	const out = union.filter((m) => !contains(pattern, m));
	out.push(pattern);
	return out.sort(byBytes);
}

function byBytes(a: string, b: string): number {
	const x = new TextEncoder().encode(a);
	const y = new TextEncoder().encode(b);
	for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
	return x.length - y.length;
}

/** A reduced union of these patterns. */
export function union(patterns: Iterable<string>): string[] {
	let out: string[] = [];
	for (const p of patterns) out = insert(out, p);
	return out;
}

/** What `pattern` matches below `root`, relative to it: a set (`**\/a` at `a` is `""` and `**\/a`). */
export function rebase(pattern: string, root: string): string[] {
	const r = Path.normalize(root).split("/").filter((s) => s !== "");
	const segments = parse(pattern);
	const prefixRun = (s: Segment[], parts: string[]) => s.every((x, i) => i >= parts.length || segMatches(x, parts[i]));
	let out: string[] = [];
	const ht = split(segments);
	if (!ht) {
		if (r.length <= segments.length && prefixRun(segments, r)) out = insert(out, toText(segments.slice(r.length)));
		return out;
	}
	const [head, tail] = ht;
	if (r.length <= head.length) {
		if (prefixRun(head, r)) out = insert(out, toText(build(segments.slice(r.length))));
		return out;
	}
	if (!prefixRun(head, r)) return out;
	const rest = r.slice(head.length);
	out = insert(out, toText(build(segments.slice(head.length))));
	for (let used = 1; used <= Math.min(tail.length, rest.length); used++) {
		if (prefixRun(tail.slice(0, used), rest.slice(rest.length - used))) out = insert(out, toText(build(tail.slice(used))));
	}
	return out;
}

/** Every member of a union rebased at `root`, as one union. */
export function rebaseAll(patterns: string[], root: string): string[] {
	return union(patterns.flatMap((p) => rebase(p, root)));
}

/** A pattern placed below the literal path `root`. */
export function rooted(pattern: string, root: string): string {
	const r = Path.normalize(root).split("/").filter((s) => s !== "");
	return toText(build([...r.map((v): Segment => ({ k: "lit", v })), ...parse(pattern)]));
}
