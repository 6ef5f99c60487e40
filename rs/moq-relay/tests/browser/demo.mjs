// Headless Chromium driving the relay's demo page (js/demo, served by the relay at `/`), as a
// user would: fill the fields, click the buttons, read what the page shows. Driven by the Rust
// tests; reusable by hand.
//
//   node demo.mjs <page-base-url> <mode> [mode args] [timeout-ms] [--screenshot <file.png>]
//
//   <page-base-url>  where the relay serves the page, e.g. http://localhost:4443 (a secure
//                    context: WebTransport needs one). The page takes the MoQ URL and the
//                    certificate fingerprint from /demo/config.json.
//   <mode>           exchange <transport> [jwt]
//                        page A opens /?transport=<t>[&jwt=…], names the broadcast demo-<random>
//                        and clicks #publish-pattern; page B (same browser) opens the same, clicks
//                        #watch and waits until #view has drawn 10 frames
//                    refused <transport> <jwt>
//                        opens the page with that token, clicks #publish-pattern and waits for
//                        #state to be `closed` or `error`; reports #message
//                    status
//                        opens /status and waits for its tables
//                    <transport>: auto | webtransport | websocket
//   [timeout-ms]     overall bound, default 20000 (a number: a JWT is never all digits)
//   --screenshot f   exchange: save page B as PNG during playback
//
// Output: one JSON line on stdout, the last line:
//   exchange  {"ok":true,"mode":"exchange","transport":"webtransport","frames":10,
//              "publisherState":"publishing","watcherState":"watching","screenshot":"f.png"}
//   refused   {"ok":true,"mode":"refused","transport":"websocket","state":"closed",
//              "message":"Refused by the relay: code 2, missing_credential"}
//   status    {"ok":true,"mode":"status","sessions":3,"text":"<the page's text, 500 chars>"}
// plus "chromium" (its version) and, when ok is false, "error" (and what the pages showed).
// Exit code 0 when the JSON line was printed (whatever the outcome), 2 on a harness failure
// (bad usage, no Chromium). Diagnostics go to stderr; the token is never printed.
//
// Chromium: /usr/bin/chromium (Debian's `chromium`, installed by dev/setup.sh), or $CHROMIUM.

import { executablePath, launch } from "./chromium.mjs";

const TRANSPORTS = ["auto", "webtransport", "websocket"];

// Tokens stay out of everything this script prints (a navigation error quotes the page URL).
function redact(text) {
	return String(text)
		.replace(/([?&](?:jwt|token|auth_id|pp)=)[^&\s"'#]+/gi, "$1…")
		.replace(/\u001b\[[0-9;]*m/g, "");
}

function fail(message) {
	console.error(`demo.mjs: ${redact(message)}`);
	process.exit(2);
}

const usage =
	"usage: node demo.mjs <page-base-url> (exchange <transport> [jwt] | refused <transport> <jwt> | status) [timeout-ms] [--screenshot <file>]";
const argv = process.argv.slice(2);
let screenshot;
const shot = argv.indexOf("--screenshot");
if (shot !== -1) {
	screenshot = argv[shot + 1];
	if (!screenshot) fail(usage);
	argv.splice(shot, 2);
}
let timeoutMs = 20000;
if (argv.length > 2 && /^\d+$/.test(argv[argv.length - 1])) timeoutMs = Number(argv.pop());
const [base, mode, ...rest] = argv;
let transport;
let jwt;
if (!base || !/^https?:\/\//.test(base)) fail(usage);
if (mode === "exchange" || mode === "refused") {
	[transport, jwt] = rest;
	if (!TRANSPORTS.includes(transport) || rest.length > 2 || (mode === "refused" && !jwt)) fail(usage);
} else if (mode !== "status" || rest.length) {
	fail(usage);
}

const deadline = Date.now() + timeoutMs;
const left = () => Math.max(1, deadline - Date.now());

function pageUrl(path, query = {}) {
	const url = new URL(path, base);
	for (const [key, value] of Object.entries(query)) if (value) url.searchParams.set(key, value);
	return url.toString();
}

let browser;
try {
	// The fake camera is for #publish-camera.
	browser = await launch(["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]);
} catch (err) {
	fail(`launching ${executablePath}: ${err.message}`);
}

let result;
try {
	const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
	if (mode === "exchange") result = await exchange(context);
	else if (mode === "refused") result = await refused(context);
	else result = await status(context);
} catch (err) {
	result = { ok: false, mode, error: `harness: ${redact(err.message)}` };
}
result.chromium = browser.version();
await browser.close().catch(() => {});
console.log(JSON.stringify(result));
process.exit(0);

async function open(context, label, path, query) {
	const page = await context.newPage();
	page.on("console", (msg) => console.error(redact(`[${label} ${msg.type()}] ${msg.text()}`)));
	page.on("pageerror", (err) => console.error(redact(`[${label} error] ${err.message}`)));
	await page.goto(pageUrl(path, query), { timeout: left() });
	return page;
}

// What the demo page shows: #state's data-state and data-transport, #message, #view's data-frames.
function shown(page) {
	return page.evaluate(() => {
		const state = document.getElementById("state");
		return {
			state: state?.dataset.state ?? null,
			transport: state?.dataset.transport || null,
			message: document.getElementById("message")?.textContent ?? "",
			frames: Number(document.getElementById("view")?.dataset.frames ?? 0),
		};
	});
}

async function ready(page) {
	await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: left() });
}

// Wait until the page's state is one of `states` (or, unless it is wanted, `closed`/`error`).
async function until(page, states, minFrames = 0) {
	try {
		await page.waitForFunction(
			({ states, minFrames }) => {
				const state = document.getElementById("state").dataset.state;
				if (state === "closed" || state === "error") return true;
				return states.includes(state) && Number(document.getElementById("view").dataset.frames) >= minFrames;
			},
			{ states, minFrames },
			{ timeout: left(), polling: 50 },
		);
	} catch (err) {
		if (!/Timeout/i.test(err.message)) throw err;
	}
	return shown(page);
}

async function exchange(context) {
	const name = `demo-${Math.random().toString(36).slice(2, 10)}`;
	const query = { transport, jwt };
	const result = { ok: false, mode, name };

	const publisher = await open(context, "publisher", "/", query);
	await ready(publisher);
	await publisher.fill("#name", name);
	await publisher.click("#publish-pattern");
	const a = await until(publisher, ["publishing"]);
	result.publisherState = a.state;
	if (a.state !== "publishing") {
		result.error = `the publisher page is ${a.state}: ${a.message}`;
		return result;
	}

	const watcher = await open(context, "watcher", "/", query);
	await ready(watcher);
	await watcher.fill("#name", name);
	await watcher.click("#watch");
	const b = await until(watcher, ["watching"], 10);
	result.watcherState = b.state;
	result.transport = b.transport;
	result.frames = b.frames;
	result.publisherState = (await shown(publisher)).state;
	if (b.state !== "watching" || b.frames < 10) {
		result.error = `the watcher page is ${b.state} with ${b.frames} frames: ${b.message}`;
		return result;
	}
	if (screenshot) {
		await watcher.screenshot({ path: screenshot, timeout: left() });
		result.screenshot = screenshot;
	}
	result.ok = result.publisherState === "publishing";
	if (!result.ok) result.error = `the publisher page became ${result.publisherState}: ${(await shown(publisher)).message}`;
	return result;
}

async function refused(context) {
	const page = await open(context, "page", "/", { transport, jwt });
	await ready(page);
	await page.click("#publish-pattern");
	const shownNow = await until(page, []);
	const result = { ok: false, mode, transport: shownNow.transport, state: shownNow.state, message: shownNow.message };
	result.ok = shownNow.state === "closed" || shownNow.state === "error";
	if (!result.ok) result.error = `timed out: the page is still ${shownNow.state}`;
	return result;
}

async function status(context) {
	const page = await open(context, "status", "/status");
	try {
		await page.waitForFunction(() => document.body.dataset.state !== "loading", null, { timeout: left(), polling: 50 });
	} catch (err) {
		if (!/Timeout/i.test(err.message)) throw err;
	}
	const shownNow = await page.evaluate(() => ({
		state: document.body.dataset.state,
		sessions: document.getElementById("sessions-live")?.textContent ?? null,
		text: document.body.innerText,
	}));
	const sessions = Number(String(shownNow.sessions ?? "").replace(/,/g, ""));
	const result = {
		ok: shownNow.state === "ok" && Number.isFinite(sessions) && shownNow.sessions !== null,
		mode,
		sessions: Number.isFinite(sessions) && shownNow.sessions !== null ? sessions : null,
		text: shownNow.text.slice(0, 500),
	};
	if (!result.ok) result.error = shownNow.state === "loading" ? "timed out waiting for /status.json" : `the page shows ${shownNow.state}`;
	return result;
}
