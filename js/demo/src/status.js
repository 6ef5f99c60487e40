// The relay's status page (served at /status, this file at /demo/status.js): reads /status.json
// every 2 s and shows it as tables. <body data-state> is `loading`, `ok` (the tables show the last
// answer) or `error` (the last fetch failed; the tables, if any, are from the answer before).

const INTERVAL_MS = 2000;
const $ = (id) => document.getElementById(id);
let config; // /demo/config.json, for "watch" links to public broadcasts (optional)
let lastOk; // Date of the last good answer

function el(tag, attrs = {}, ...children) {
	const node = document.createElement(tag);
	for (const [key, value] of Object.entries(attrs)) {
		if (value === undefined) continue;
		if (key === "class") node.className = value;
		else node.setAttribute(key, value);
	}
	for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
	return node;
}

function duration(seconds) {
	if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "—";
	let s = Math.floor(seconds);
	const days = Math.floor(s / 86400);
	s %= 86400;
	const parts = [];
	if (days) parts.push(`${days} d`);
	const h = Math.floor(s / 3600);
	const m = Math.floor((s % 3600) / 60);
	if (days || h) parts.push(`${h} h`);
	if (days || h || m) parts.push(`${m} min`);
	parts.push(`${s % 60} s`);
	return parts.join(" ");
}

function num(value) {
	return typeof value === "number" ? value.toLocaleString("en-US") : value === undefined || value === null ? "—" : String(value);
}

// A table of [label, value, id?] rows; an empty list gets one row saying `empty`.
function table(caption, rows, empty = "none") {
	const body = el("tbody");
	for (const [label, value, id] of rows) {
		const cell = el("td", { class: typeof value === "number" ? "num" : undefined, id }, value instanceof Node ? value : num(value));
		body.append(el("tr", {}, el("th", { scope: "row" }, label), cell));
	}
	if (!rows.length) body.append(el("tr", {}, el("td", { colspan: "2", class: "muted" }, empty)));
	return el("section", {}, el("h2", {}, caption), el("table", {}, body));
}

// A link to watch a public broadcast on the demo page: connect at its public prefix, name the rest.
function watchLink(path) {
	if (!config?.url || !Array.isArray(config.public)) return undefined;
	const prefix = config.public
		.map((p) => String(p).replace(/^\/+|\/+$/g, ""))
		.filter((p) => p && path.startsWith(`${p}/`))
		.sort((a, b) => b.length - a.length)[0];
	if (!prefix) return undefined;
	let url;
	try {
		url = new URL(config.url);
	} catch {
		return undefined;
	}
	url.pathname = `/${prefix}`;
	url.search = "";
	const query = new URLSearchParams({ url: url.toString(), name: path.slice(prefix.length + 1) });
	return el("a", { href: `/?${query}` }, "watch");
}

function render(status) {
	const sessions = status.sessions ?? {};
	const broadcasts = status.broadcasts ?? {};
	const auth = status.auth ?? {};
	const refused = auth.refused && typeof auth.refused === "object" ? auth.refused : {};
	const refusedTotal = Object.values(refused).reduce((sum, n) => sum + (typeof n === "number" ? n : 0), 0);
	const publicList = Array.isArray(broadcasts.public) ? broadcasts.public : [];

	const tables = [
		table("Relay", [
			["name", status.relay ?? "—"],
			["version", status.version ?? "—"],
			["uptime", duration(status.uptime)],
		]),
		table("Sessions", [
			["live", sessions.live ?? "—", "sessions-live"],
			...Object.entries(sessions.by_transport ?? {}).map(([transport, n]) => [transport, n]),
		]),
		table("Broadcasts", [
			["live (all)", broadcasts.live ?? "—", "broadcasts-live"],
			["public", publicList.length],
		]),
		table(
			"Public broadcasts",
			publicList.map((path) => {
				const link = watchLink(String(path));
				return [String(path), link ?? ""];
			}),
			"none under a public prefix",
		),
		table("Authentication", [
			["admitted", auth.admitted ?? "—", "auth-admitted"],
			["refused", refusedTotal],
			...Object.entries(refused).map(([reason, n]) => [`refused: ${reason}`, n]),
		]),
	];
	$("tables").replaceChildren(...tables);
}

function clock(date) {
	return date.toLocaleTimeString("en-GB", { hour12: false });
}

async function refresh() {
	try {
		const res = await fetch("/status.json", { cache: "no-store" });
		if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
		const status = await res.json();
		if (!status || typeof status !== "object") throw new Error("the answer is not a JSON object");
		render(status);
		lastOk = new Date();
		$("updated").textContent = `Last updated ${clock(lastOk)}`;
		$("updated").dataset.updated = lastOk.toISOString();
		$("error").hidden = true;
		document.body.dataset.state = "ok";
	} catch (err) {
		const since = lastOk ? ` (showing the answer of ${clock(lastOk)})` : "";
		$("error").textContent = `Could not read /status.json: ${err?.message ?? err}${since}`;
		$("error").hidden = false;
		if (!lastOk) $("updated").textContent = "";
		document.body.dataset.state = "error";
	}
}

async function start() {
	try {
		const res = await fetch("/demo/config.json", { cache: "no-store" });
		if (res.ok) config = await res.json();
	} catch {}
	for (;;) {
		await refresh();
		await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
	}
}

start();
