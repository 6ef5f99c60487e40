// Headless Chromium with WebTransport disabled: @moq/net falls back to MoQ over WebSocket (QMux)
// against a moq-relay. Driven by tests/it/websocket.rs; reusable by hand.
//
//   node websocket.mjs <url> <mode> [timeout-ms]
//
//   <url>      ws://127.0.0.1:<port>/<path>[?jwt=…]  (the relay's TCP port, plain HTTP)
//   <mode>     exchange  publish broadcast `browser` (track `t`, a group "browser-<n>" every 100 ms),
//                        watch for the broadcast `rust`, subscribe to its track `t` and wait for a
//                        frame "ack:browser-<n>" (proof that a Rust peer read ours and answered)
//              refused   connect and report how the relay ended the session
//   [timeout-ms]  overall bound, default 20000
//
// Output: one JSON line on stdout, the last line: ok, mode, webtransport (false: it was removed),
// transport ("websocket" when @moq/net connected over it), version, sent, received, error, and
// for `refused` the relay's closeCode and reason.
// Exit code 0 when the JSON line was printed, 2 on a harness failure. Diagnostics go to stderr.

import { createServer } from "node:http";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { executablePath, launch } from "./chromium.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const [url, mode = "exchange", timeoutArg] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg ?? 20000);

function fail(message) {
	console.error(`websocket.mjs: ${message}`);
	process.exit(2);
}

if (!url?.startsWith("ws") || !["exchange", "refused"].includes(mode)) {
	fail("usage: node websocket.mjs <ws-url> <exchange|refused> [timeout-ms]");
}

const bundle = await esbuild
	.build({
		stdin: {
			contents: 'import * as Moq from "@moq/net"; import Qmux from "@moq/qmux"; window.Moq = Moq; window.Qmux = Qmux;',
			resolveDir: here,
		},
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
		res.end('<!doctype html><meta charset="utf-8"><title>moq-relay websocket test</title>');
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
	result = await page.evaluate(inPage, { url, mode, timeoutMs });
	result.chromium = browser.version();
} catch (err) {
	result = { ok: false, mode, error: `harness: ${err.message}` };
} finally {
	await browser.close().catch(() => {});
	server.close();
}
console.log(JSON.stringify(result));
process.exit(0);

// Runs inside the page.
async function inPage({ url, mode, timeoutMs }) {
	const Moq = window.Moq;
	const deadline = Date.now() + timeoutMs;
	const left = () => Math.max(0, deadline - Date.now());
	const timeout = (what) => new Promise((resolve) => setTimeout(() => resolve({ timeout: what }), left()));
	// WebTransport disabled in the client, as in a browser without it: @moq/net uses WebSocket.
	delete window.WebTransport;
	const result = { ok: false, mode, webtransport: typeof WebTransport === "function" };

	let connection;
	const timer = [];
	try {
		if (mode === "refused") {
			// --- a refusal's code and reason (docs/browser.md): dial the QMux session yourself ---
			const versions = { "moq-lite-05": null, "moq-lite-04": null };
			const quic = new window.Qmux(url, { protocols: Object.keys(versions), versions });
			await quic.ready;
			connection = await Moq.Connection.connect(new URL(url), { transport: quic });
			const { closeCode, reason } = await Promise.race([quic.closed, timeout("closed")]);
			// ---
			result.closeCode = closeCode ?? null;
			result.reason = reason ?? null;
			result.ok = closeCode !== undefined;
			return result;
		}
		// --- the connection code docs/browser.md shows ---
		connection = await Promise.race([
			Moq.Connection.connect(new URL(url), { websocket: { enabled: true, delay: 0 } }),
			timeout("connect").then(() => {
				throw new Error("timed out waiting for the moq handshake");
			}),
		]);
		// ---
		result.version = String(connection.version);
		result.transport = connection.transport ?? null;

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
	}
	return result;
}
