// Headless Chromium over WebTransport against a moq-relay, driven by tests/it/browser.rs
// (and reusable by hand or by other tests).
//
//   node webtransport.mjs <url> <fingerprint-hex> <mode> [timeout-ms] [protocols]
//
//   <url>              https://localhost:<port>/<path>[?jwt=…]  (the WebTransport URL)
//   <fingerprint-hex>  lowercase hex SHA-256 of the relay's leaf certificate
//                      (serverCertificateHashes; the cert must be ECDSA P-256, valid <= 14 days)
//   <mode>             ready     open the session, await `ready`, close it ourselves
//                      closed    open the session and wait for the relay to end it: report
//                                `closed` as {closeCode, reason} (clean) or the WebTransportError
//                      exchange  @moq/net 0.3.4 over that session: publish broadcast `browser`
//                                (track `t`, a group "browser-<n>" every 100 ms), watch for the
//                                broadcast `rust`, subscribe to its track `t` and wait for a frame
//                                "ack:browser-<n>" (proof that a Rust peer read ours and answered)
//   [timeout-ms]       overall bound, default 20000
//   [protocols]        comma-separated WT-Available-Protocols, default the list @moq/net 0.3.4
//                      offers; `moqt-16` forces draft-16, `moql` draft-14 negotiated in SETUP
//
// Output: exactly one JSON line on stdout, the last line, e.g.
//   {"ok":true,"mode":"closed","chromium":"156.0…","secureContext":true,"webtransport":true,
//    "ready":true,"protocol":"moq-lite-05","closed":"clean","closeCode":2,"reason":"missing_credential"}
// Fields: ok (the mode's flow completed; the caller asserts on the rest), ready, readyError,
// protocol (WebTransport.protocol: the WT-Protocol the server chose; "" if none was
// negotiated), closed ("clean" | "error" | "timeout"), closeCode, reason, error, source,
// streamErrorCode, version (moq version @moq/net speaks), sent, received, error.
// Exit code 0 when the JSON line was printed (whatever the outcome), 2 on a harness failure
// (no Chromium, bundling failed). Diagnostics go to stderr.
//
// Chromium: /usr/bin/chromium (Debian's `chromium`, installed by dev/setup.sh), or $CHROMIUM.
// The page is served from http://localhost:<ephemeral port>, a secure context, by a tiny
// HTTP server in this script; @moq/net is bundled for it with esbuild at start.

import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { executablePath, launch } from "./chromium.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const [url, fingerprint, mode = "ready", timeoutArg, protocolsArg] = process.argv.slice(2);
const protocols = protocolsArg ? protocolsArg.split(",") : undefined;
const timeoutMs = Number(timeoutArg ?? 20000);

function fail(message) {
	console.error(`webtransport.mjs: ${message}`);
	process.exit(2);
}

if (!url || !/^[0-9a-f]{64}$/.test(fingerprint ?? "") || !["ready", "closed", "exchange"].includes(mode)) {
	fail("usage: node webtransport.mjs <https-url> <sha256-hex> <ready|closed|exchange> [timeout-ms] [protocols]");
}

// @moq/net as one ES module for the page; it sets window.Moq.
const bundle = await esbuild
	.build({
		stdin: { contents: 'import * as Moq from "@moq/net"; window.Moq = Moq;', resolveDir: here },
		bundle: true,
		format: "esm",
		platform: "browser",
		target: "chrome120",
		write: false,
		logLevel: "silent",
	})
	.catch((err) => fail(`bundling @moq/net: ${err.message}`));
const moqJs = bundle.outputFiles[0].text;

const server = createServer((req, res) => {
	if (req.url === "/moq.js") {
		res.writeHead(200, { "content-type": "text/javascript" });
		res.end(moqJs);
	} else {
		res.writeHead(200, { "content-type": "text/html" });
		res.end('<!doctype html><meta charset="utf-8"><title>moq-relay webtransport test</title>');
	}
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const pageUrl = `http://localhost:${server.address().port}/`;

let browser;
try {
	browser = await launch();
} catch (err) {
	server.close();
	fail(`launching ${executablePath}: ${err.message}`);
}

let result;
try {
	const page = await browser.newPage();
	page.on("console", (msg) => console.error(`[page ${msg.type()}] ${msg.text()}`));
	page.on("pageerror", (err) => console.error(`[page error] ${err.message}`));
	await page.goto(pageUrl);
	await page.addScriptTag({ url: "/moq.js", type: "module" });
	await page.waitForFunction(() => window.Moq !== undefined);
	result = await page.evaluate(inPage, { url, fingerprint, mode, timeoutMs, protocols });
	result.chromium = browser.version();
} catch (err) {
	result = { ok: false, mode, error: `harness: ${err.message}` };
} finally {
	await browser.close().catch(() => {});
	server.close();
}
console.log(JSON.stringify(result));
process.exit(0);

// Runs inside the page. Everything it needs comes in `args`; it returns a plain object.
async function inPage({ url, fingerprint, mode, timeoutMs, protocols: forced }) {
	const Moq = window.Moq;
	const deadline = Date.now() + timeoutMs;
	const left = () => Math.max(0, deadline - Date.now());
	const timeout = (what) =>
		new Promise((resolve) => setTimeout(() => resolve({ timeout: what }), left()));
	const hash = new Uint8Array(fingerprint.match(/../g).map((h) => parseInt(h, 16)));
	const result = { ok: false, mode, secureContext: isSecureContext, webtransport: typeof WebTransport === "function" };
	if (!result.webtransport) {
		result.error = "no WebTransport in this browser";
		return result;
	}

	// The same protocol list @moq/net 0.3.4 offers (WT-Available-Protocols), unless forced.
	const protocols = forced ?? [
		"moq-lite-05",
		"moq-lite-04",
		"moq-lite-03",
		"moql",
		"moqt-20",
		"moqt-19",
		"moqt-18",
		"moqt-17",
		"moqt-16",
		"moqt-15",
	];
	let wt;
	try {
		wt = new WebTransport(url, {
			serverCertificateHashes: [{ algorithm: "sha-256", value: hash }],
			protocols,
			allowPooling: false,
		});
	} catch (err) {
		result.error = `constructor: ${err}`;
		return result;
	}
	const closed = wt.closed.then(
		(info) => ({ closed: "clean", closeCode: info?.closeCode ?? null, reason: info?.reason ?? null }),
		(err) => ({
			closed: "error",
			error: String(err),
			source: err?.source ?? null,
			streamErrorCode: err?.streamErrorCode ?? null,
		}),
	);
	const ready = await Promise.race([
		wt.ready.then(
			() => ({ ready: true }),
			(err) => ({ ready: false, readyError: String(err) }),
		),
		timeout("ready"),
	]);
	if (ready.timeout) {
		result.error = "timed out waiting for ready";
		return result;
	}
	Object.assign(result, ready);
	result.protocol = typeof wt.protocol === "string" ? wt.protocol : null;

	if (mode === "closed") {
		const end = await Promise.race([closed, timeout("closed")]);
		Object.assign(result, end.timeout ? { closed: "timeout" } : end);
		if (end.timeout) wt.close();
		result.ok = !end.timeout;
		return result;
	}
	if (!result.ready) {
		Object.assign(result, await Promise.race([closed, timeout("closed")]));
		return result;
	}
	if (mode === "ready") {
		wt.close({ closeCode: 0, reason: "done" });
		result.ok = true;
		return result;
	}

	// mode === "exchange": @moq/net on the session opened above.
	let connection;
	const timer = [];
	try {
		connection = await Promise.race([
			Moq.Connection.connect(new URL(url), { transport: wt, websocket: { enabled: false } }),
			timeout("connect").then(() => {
				throw new Error("timed out waiting for the moq handshake");
			}),
		]);
		result.version = String(connection.version);

		const broadcast = new Moq.Broadcast.Producer();
		const track = broadcast.createTrack("t");
		connection.publish(Moq.Path.from("browser"), broadcast);
		let n = 0;
		const sent = new Set();
		const write = () => {
			const text = `browser-${n++}`;
			const group = track.appendGroup();
			group.writeString(text);
			group.close();
			sent.add(text);
		};
		write();
		timer.push(setInterval(write, 100));

		const received = (async () => {
			const announced = connection.announced(Moq.Path.from(""));
			for (;;) {
				const event = await announced.next();
				if (!event) throw new Error("announcements ended before `rust` appeared");
				if (event.active && event.path === "rust") break;
			}
			const sub = connection.consume(Moq.Path.from("rust")).subscribe("t");
			for (;;) {
				const text = await sub.readString();
				if (text === undefined) throw new Error("the `rust` track ended without an ack");
				if (text.startsWith("ack:") && sent.has(text.slice(4))) return text;
			}
		})();
		const got = await Promise.race([received, timeout("ack")]);
		if (got?.timeout) throw new Error("timed out waiting for the Rust peer's ack");
		result.sent = n;
		result.received = got;
		result.ok = true;
	} catch (err) {
		result.error = String(err?.message ?? err);
	} finally {
		for (const t of timer) clearInterval(t);
		try {
			connection?.close();
		} catch {}
		try {
			wt.close();
		} catch {}
	}
	return result;
}
