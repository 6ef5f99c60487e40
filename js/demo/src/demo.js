// The relay's demo page: publish a test pattern (or the camera) as a broadcast of JPEG frames and
// watch a broadcast back, with @moq/net. Served by moq-relay at `/` (this file at /demo/demo.js);
// it reads /demo/config.json for the relay's URL and certificate fingerprint.
//
// Broadcast format: the broadcast `<name>` has one track, `image`; every frame is its own group
// holding one JPEG image (640x360). A watcher always reads the newest group and skips older ones.
//
// Element ids and data attributes are a contract with tests/browser/demo.mjs (see js/demo/README.md).

import * as Moq from "@moq/net";
import Qmux from "@moq/qmux";

const TRACK = "image";
const WIDTH = 640;
const HEIGHT = 360;
const FPS = 15;
const QUALITY = 0.7;
const CONNECT_TIMEOUT_MS = 15000;
// What the page offers when it dials the WebSocket (QMux) session itself: the moq versions this
// relay speaks that @moq/net 0.3.4 does (null: every QMux draft). docs/browser.md.
const WEBSOCKET_VERSIONS = { "moq-lite-05": null, "moq-lite-04": null };
const TRANSPORTS = ["auto", "webtransport", "websocket"];

const $ = (id) => document.getElementById(id);
const ui = {
	url: $("url"),
	token: $("token"),
	transport: $("transport"),
	name: $("name"),
	publishPattern: $("publish-pattern"),
	publishCamera: $("publish-camera"),
	watch: $("watch"),
	clientSecret: $("client-secret"),
	stop: $("stop"),
	state: $("state"),
	message: $("message"),
	preview: $("preview"),
	view: $("view"),
	publishedStats: $("published-stats"),
	watchedStats: $("watched-stats"),
	version: $("version"),
};

// --- Tokens never reach the console or the page (other than #token) ---
// @moq/net logs the connection URL, `?jwt=` included; mask credentials in whatever is logged.
function redact(text) {
	return String(text).replace(/([?&](?:jwt|token|auth_id|pp)=)[^&\s"'#]+/gi, "$1…");
}
for (const level of ["debug", "log", "info", "warn", "error"]) {
	const original = console[level].bind(console);
	console[level] = (...args) => original(...args.map((arg) => (typeof arg === "string" || arg instanceof URL ? redact(arg) : arg)));
}

// --- Reading why the relay closed a session ---
// Established.closed in @moq/net 0.3.4 drops the close code and reason. For WebSocket the page
// dials the QMux session itself (below) and reads them from its `closed`; for WebTransport,
// @moq/net constructs the session, so record the sessions it constructs and read theirs.
const opened = [];
if (typeof globalThis.WebTransport === "function") {
	const Native = globalThis.WebTransport;
	globalThis.WebTransport = class extends Native {
		constructor(url, options) {
			super(url, options);
			opened.push(this);
			if (opened.length > 4) opened.shift();
		}
	};
}

let config = { url: "", fingerprint: "", public: [], client_secret: null, version: "" };
let session; // { connection, transport, closing }
let connecting; // { promise, abort }
let publisher; // { name, broadcast, track, source, frames, bytes, since }
let watcher; // { name, announced, broadcast, frames, bytes, since }

function setState(state, message) {
	ui.state.dataset.state = state;
	ui.state.textContent = state;
	if (message !== undefined) setMessage(message);
}

function setMessage(message) {
	ui.message.textContent = redact(message);
}

// The state while nothing went wrong: what the page is doing.
function refreshState() {
	if (watcher) setState("watching");
	else if (publisher) setState("publishing");
	else if (session) setState("connected");
	else if (!connecting) setState("idle");
	const busy = Boolean(session || connecting);
	for (const input of [ui.url, ui.token, ui.transport, ui.name]) input.disabled = busy;
	ui.stop.disabled = !busy && !publisher && !watcher;
	ui.watch.disabled = Boolean(watcher);
}

function describe(err) {
	if (err instanceof AggregateError && err.errors?.length) return err.errors.map(describe).join("; ");
	if (err && typeof err === "object") {
		const name = err.name && err.name !== "Error" ? `${err.name}: ` : "";
		const extra = err.source ? ` (${err.source}${err.streamErrorCode != null ? `, stream code ${err.streamErrorCode}` : ""})` : "";
		return `${name}${err.message || String(err)}${extra}`;
	}
	return String(err);
}

// The URL without its query (where the token is), for messages.
function displayUrl(url) {
	return `${url.origin}${url.pathname}`;
}

function connectionUrl() {
	const url = new URL(ui.url.value.trim());
	const token = ui.token.value.trim();
	if (token) url.searchParams.set("jwt", token);
	return url;
}

function broadcastName() {
	const name = ui.name.value.trim().replace(/^\/+|\/+$/g, "");
	if (!name) throw new Error("enter a broadcast name");
	return name;
}

// The relay's self-signed certificate is pinned (serverCertificateHashes) only for that relay.
function pinnedHashes(url) {
	if (!config.fingerprint) return [];
	let relay;
	try {
		relay = new URL(config.url);
	} catch {
		relay = new URL(location.href);
	}
	if (url.host !== relay.host && url.host !== location.host) return [];
	return [{ algorithm: "sha-256", value: config.fingerprint }];
}

// The WebSocket URL for a MoQ URL. A browser does not trust a self-signed certificate for wss://
// (there is no pinning for WebSocket), so a page not itself on https:// uses the relay's plain
// side, ws://, on the same port.
function websocketUrl(url, pinned) {
	const ws = new URL(url);
	if (ws.protocol === "https:") ws.protocol = pinned && location.protocol !== "https:" ? "ws:" : "wss:";
	else if (ws.protocol === "http:") ws.protocol = "ws:";
	return ws;
}

function withTimeout(promise, signal, what) {
	return new Promise((resolve, reject) => {
		const onAbort = () => reject(signal.reason ?? new Error(`${what}: aborted`));
		if (signal.aborted) return onAbort();
		signal.addEventListener("abort", onAbort, { once: true });
		promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
	});
}

// Dial the relay over the chosen transport; resolves to { connection, transport, info } where
// `info` settles with how the session ended ({code, reason} or {error}).
async function dial(mode, url, signal) {
	const pinned = pinnedHashes(url);
	if (mode === "websocket" || (mode === "auto" && !Moq.Connection.isWebTransportSupported())) {
		// WebSocket only: @moq/net 0.3.4 has no option that turns WebTransport off, but takes a
		// session the page dialed itself (`transport`), which also keeps its close code readable.
		// (`auto` in a browser without WebTransport would race WebSocket alone: the same.)
		const quic = new Qmux(websocketUrl(url, pinned.length > 0), {
			protocols: Object.keys(WEBSOCKET_VERSIONS),
			versions: WEBSOCKET_VERSIONS,
		});
		const cancel = () => quic.close();
		signal.addEventListener("abort", cancel, { once: true });
		try {
			await withTimeout(quic.ready, signal, "WebSocket");
			const connection = await Moq.Connection.connect(url, { transport: quic, signal });
			return { connection, transport: "websocket", info: endOf(quic.closed) };
		} finally {
			signal.removeEventListener("abort", cancel); // the signal's timeout bounds the dial only
		}
	}
	if (mode === "webtransport" && typeof WebTransport !== "function") {
		throw new Error(
			isSecureContext
				? "this browser has no WebTransport: choose WebSocket"
				: "WebTransport needs a secure context: open this page on https:// or http://localhost, or choose WebSocket",
		);
	}
	const before = opened.length ? opened[opened.length - 1] : undefined;
	const connection = await Moq.Connection.connect(url, {
		webtransport: pinned.length ? { serverCertificateHashes: pinned } : undefined,
		// `webtransport`: no WebSocket fallback; `auto`: @moq/net's race (WebSocket 500 ms later).
		websocket: mode === "webtransport" ? { enabled: false } : { url: websocketUrl(url, pinned.length > 0) },
		signal,
	});
	const transport = connection.transport ?? "webtransport";
	const wt = transport === "webtransport" ? opened[opened.length - 1] : undefined;
	const info = wt && wt !== before ? endOf(wt.closed) : endOf(connection.closed);
	return { connection, transport, info };
}

function endOf(closed) {
	return closed.then(
		(info) => (info && typeof info === "object" ? { code: info.closeCode, reason: info.reason ?? "" } : {}),
		(error) => ({ error }),
	);
}

async function ensureConnected() {
	if (session) return session;
	if (connecting) return connecting.promise;
	let url;
	try {
		url = connectionUrl();
	} catch {
		setState("error", "The relay URL is not a valid URL (e.g. https://127.0.0.1:4443/anon).");
		return undefined;
	}
	const mode = TRANSPORTS.includes(ui.transport.value) ? ui.transport.value : "auto";
	const abort = new AbortController();
	const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(CONNECT_TIMEOUT_MS)]);
	const how = mode === "auto" ? "" : ` over ${mode === "websocket" ? "WebSocket" : "WebTransport"}`;
	const attempt = { abort };
	attempt.promise = (async () => {
		setState("connecting", `Connecting to ${displayUrl(url)}${how}…`);
		try {
			const { connection, transport, info } = await dial(mode, url, signal);
			if (connecting !== attempt) {
				connection.close();
				return undefined;
			}
			const s = { connection, transport, closing: false };
			session = s;
			connecting = undefined;
			ui.state.dataset.transport = transport;
			info.then((end) => onClosed(s, end));
			setState("connected", `Connected to ${displayUrl(url)} over ${transport === "websocket" ? "WebSocket" : "WebTransport"} (${connection.version}).`);
			refreshState();
			return s;
		} catch (err) {
			if (connecting !== attempt) return undefined;
			connecting = undefined;
			const why = signal.aborted && !abort.signal.aborted ? `no answer within ${CONNECT_TIMEOUT_MS / 1000} s` : describe(err);
			refreshState();
			setState("error", `Could not connect to ${displayUrl(url)}${how}: ${why}`);
			return undefined;
		}
	})();
	connecting = attempt;
	refreshState();
	return attempt.promise;
}

// The session ended: by Stop, or by the relay (a refusal, an expiry, a shutdown) or the network.
function onClosed(s, end) {
	if (session !== s) return;
	session = undefined;
	stopPublishing();
	stopWatching();
	refreshState();
	if (s.closing) return;
	if (end.error) {
		setState("error", `Connection lost: ${describe(end.error)}`);
	} else if (end.code === undefined) {
		setState("closed", "The relay closed the session (its close code and reason did not arrive).");
	} else {
		const what = end.code === 2 ? "Refused by the relay" : "Closed by the relay";
		setState("closed", `${what}: code ${end.code}${end.reason ? `, ${end.reason}` : ""}`);
	}
}

function stop() {
	const s = session;
	session = undefined;
	if (connecting) {
		connecting.abort.abort(new Error("stopped"));
		connecting = undefined;
	}
	stopPublishing();
	stopWatching();
	if (s) {
		s.closing = true;
		try {
			s.connection.close();
		} catch {}
	}
	refreshState();
	setState("idle", "Stopped.");
}

// --- Publishing ---

const BARS = ["#c0c0c0", "#c0c000", "#00c0c0", "#00c000", "#c000c0", "#c00000", "#0000c0"];

function pad(n, width = 2) {
	return String(n).padStart(width, "0");
}

function clock(date) {
	return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function drawPattern(ctx, t) {
	const barW = WIDTH / BARS.length;
	const barH = Math.round(HEIGHT * 0.6);
	BARS.forEach((color, i) => {
		ctx.fillStyle = color;
		ctx.fillRect(Math.floor(i * barW), 0, Math.ceil(barW), barH);
	});
	const ramp = ctx.createLinearGradient(0, 0, WIDTH, 0);
	ramp.addColorStop(0, "#000");
	ramp.addColorStop(1, "#fff");
	ctx.fillStyle = ramp;
	ctx.fillRect(0, barH, WIDTH, 24);
	ctx.fillStyle = "#16181d";
	ctx.fillRect(0, barH + 24, WIDTH, HEIGHT - barH - 24);

	// A ball bouncing across, a square turning around the centre, a sweeping line.
	const x = 30 + (WIDTH - 60) * (0.5 + 0.5 * Math.sin(t * 1.7));
	const y = 30 + (barH - 60) * Math.abs(Math.sin(t * 2.3));
	ctx.fillStyle = "#ff5a36";
	ctx.beginPath();
	ctx.arc(x, y, 26, 0, Math.PI * 2);
	ctx.fill();

	ctx.save();
	ctx.translate(WIDTH / 2, barH / 2);
	ctx.rotate(t * 1.2);
	ctx.strokeStyle = "#fff";
	ctx.lineWidth = 6;
	ctx.strokeRect(-44, -44, 88, 88);
	ctx.restore();

	const sweep = (t * 160) % WIDTH;
	ctx.fillStyle = "rgba(255,255,255,0.85)";
	ctx.fillRect(sweep, barH, 3, 24);
}

function drawCamera(ctx, video) {
	const vw = video.videoWidth || WIDTH;
	const vh = video.videoHeight || HEIGHT;
	const scale = Math.max(WIDTH / vw, HEIGHT / vh);
	const w = vw * scale;
	const h = vh * scale;
	ctx.fillStyle = "#000";
	ctx.fillRect(0, 0, WIDTH, HEIGHT);
	ctx.drawImage(video, (WIDTH - w) / 2, (HEIGHT - h) / 2, w, h);
}

// The frame counter and the clock, drawn on every published frame (pattern and camera alike).
function drawOverlay(ctx, p, now) {
	const bandY = HEIGHT - 92;
	ctx.fillStyle = "rgba(0,0,0,0.55)";
	ctx.fillRect(0, bandY, WIDTH, 92);
	ctx.fillStyle = "#fff";
	ctx.textBaseline = "alphabetic";
	ctx.font = "bold 40px ui-monospace, Menlo, Consolas, monospace";
	ctx.textAlign = "left";
	ctx.fillText(`#${p.frames}`, 20, bandY + 50);
	ctx.textAlign = "right";
	ctx.fillText(clock(now), WIDTH - 20, bandY + 50);
	ctx.font = "16px system-ui, sans-serif";
	ctx.textAlign = "left";
	ctx.fillStyle = "#cfd3da";
	ctx.fillText(`moq-relay demo · ${p.name} · ${p.source.kind}`, 20, bandY + 78);
}

async function openCamera() {
	if (!navigator.mediaDevices?.getUserMedia) {
		throw new Error(isSecureContext ? "this browser has no camera access" : "the camera needs a secure context (https:// or localhost)");
	}
	const stream = await navigator.mediaDevices.getUserMedia({
		video: { width: { ideal: WIDTH }, height: { ideal: HEIGHT } },
		audio: false,
	});
	const video = document.createElement("video");
	video.muted = true;
	video.playsInline = true;
	video.srcObject = stream;
	await video.play();
	return { kind: "camera", video, stream };
}

function closeSource(source) {
	for (const track of source?.stream?.getTracks() ?? []) track.stop();
}

async function publish(kind) {
	let name;
	try {
		name = broadcastName();
	} catch (err) {
		setMessage(`Cannot publish: ${err.message}.`);
		return;
	}
	let source = { kind: "test pattern" };
	if (kind === "camera") {
		try {
			source = await openCamera();
		} catch (err) {
			if (!session) setState("error");
			setMessage(`Camera unavailable: ${describe(err)}`);
			return;
		}
	}
	if (publisher) {
		// Already publishing: switch the source, same broadcast.
		closeSource(publisher.source);
		publisher.source = source;
		setMessage(`Publishing "${publisher.name}": now the ${source.kind}.`);
		return;
	}
	const s = await ensureConnected();
	if (!s || publisher) {
		closeSource(source);
		return;
	}
	const broadcast = new Moq.Broadcast.Producer();
	const track = broadcast.createTrack(TRACK, { latencyMax: 1000 });
	s.connection.publish(Moq.Path.from(name), broadcast);
	const p = { name, broadcast, track, source, frames: 0, bytes: 0, since: performance.now() };
	publisher = p;
	refreshState();
	setMessage(`Publishing "${name}" (${source.kind}) over ${s.transport === "websocket" ? "WebSocket" : "WebTransport"}.`);
	publishLoop(p);
}

async function publishLoop(p) {
	const ctx = ui.preview.getContext("2d");
	let next = performance.now();
	while (publisher === p) {
		const now = new Date();
		if (p.source.kind === "camera") drawCamera(ctx, p.source.video);
		else drawPattern(ctx, performance.now() / 1000);
		drawOverlay(ctx, p, now);
		let payload;
		try {
			payload = await helper.encode(ui.preview);
		} catch (err) {
			console.warn("encoding a frame:", err);
		}
		if (publisher !== p) break;
		if (payload) {
			try {
				p.track.writeFrame({ payload, timestamp: Moq.Time.Timestamp.now() });
			} catch (err) {
				console.warn("publishing a frame:", err);
				break;
			}
			if (p.frames === 0) p.since = performance.now();
			p.frames++;
			p.bytes += payload.byteLength;
			ui.publishedStats.textContent = stats(p);
		}
		next += 1000 / FPS;
		const wait = next - performance.now();
		if (wait < -250) next = performance.now();
		await helper.sleep(Math.max(0, wait));
	}
}

// The publisher's clock and JPEG encoder. A tab in the background gets its timers (and the
// completion of canvas encodes) once a second at most, and the publishing tab is usually in the
// background: on a worker neither slows down. Without workers (or OffscreenCanvas), the page's own.
const HELPER = `
let canvas;
onmessage = async ({ data }) => {
	if (data.bitmap === undefined) return setTimeout(() => postMessage({ id: data.id }), data.ms);
	try {
		canvas ??= new OffscreenCanvas(data.bitmap.width, data.bitmap.height);
		canvas.getContext("2d").drawImage(data.bitmap, 0, 0);
		data.bitmap.close();
		const buffer = await (await canvas.convertToBlob({ type: "image/jpeg", quality: data.quality })).arrayBuffer();
		postMessage({ id: data.id, buffer }, [buffer]);
	} catch (err) {
		postMessage({ id: data.id, error: String(err) });
	}
};`;

const helper = (() => {
	let worker;
	let copy; // an OffscreenCanvas: the frame is copied into it to hand it over as an ImageBitmap
	let last = 0;
	const waiting = new Map();
	const onPage = {
		sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
		encode: (canvas) =>
			new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", QUALITY)).then(async (blob) =>
				blob ? new Uint8Array(await blob.arrayBuffer()) : undefined,
			),
	};
	function call(message, transfer = []) {
		return new Promise((resolve, reject) => {
			const id = ++last;
			waiting.set(id, { resolve, reject });
			worker.postMessage({ id, ...message }, transfer);
		});
	}
	function start() {
		if (worker !== undefined) return worker;
		worker = null;
		if (typeof Worker !== "function" || typeof OffscreenCanvas !== "function") return worker;
		try {
			worker = new Worker(URL.createObjectURL(new Blob([HELPER], { type: "text/javascript" })));
		} catch {
			return worker;
		}
		worker.onmessage = ({ data }) => {
			const wait = waiting.get(data.id);
			waiting.delete(data.id);
			if (data.error) wait?.reject(new Error(data.error));
			else wait?.resolve(data.buffer && new Uint8Array(data.buffer));
		};
		worker.onerror = () => {
			// E.g. a policy that forbids blob: workers: the page's own from now on.
			worker = null;
			for (const wait of waiting.values()) wait.resolve(undefined); // a frame skipped, no more
			waiting.clear();
		};
		return worker;
	}
	return {
		sleep: (ms) => (start() ? call({ ms }) : onPage.sleep(ms)),
		encode: (canvas) => {
			if (!start()) return onPage.encode(canvas);
			copy ??= new OffscreenCanvas(canvas.width, canvas.height);
			copy.getContext("2d").drawImage(canvas, 0, 0);
			const image = copy.transferToImageBitmap();
			return call({ bitmap: image, quality: QUALITY }, [image]);
		},
	};
})();

// "N frames · F fps · S KB/frame", the rate measured from the first frame (`since`).
function stats(x) {
	const seconds = (performance.now() - x.since) / 1000;
	const fps = x.frames > 1 && seconds > 0 ? (x.frames - 1) / seconds : 0;
	const kb = x.frames ? x.bytes / x.frames / 1024 : 0;
	return `${x.frames} frames · ${fps.toFixed(1)} fps · ${kb.toFixed(1)} KB/frame`;
}

function stopPublishing() {
	const p = publisher;
	if (!p) return;
	publisher = undefined;
	closeSource(p.source);
	try {
		p.track.close();
		p.broadcast.close();
	} catch {}
	placeholder(ui.preview, "Not publishing");
	ui.publishedStats.textContent = "";
}

// --- Watching ---

async function watch() {
	if (watcher) return;
	let name;
	try {
		name = broadcastName();
	} catch (err) {
		setMessage(`Cannot watch: ${err.message}.`);
		return;
	}
	const s = await ensureConnected();
	if (!s || watcher) return;
	const path = Moq.Path.from(name);
	const w = { name, path, announced: undefined, broadcast: undefined, frames: 0, bytes: 0, since: performance.now() };
	watcher = w;
	ui.view.dataset.frames = "0";
	ui.watchedStats.textContent = "";
	refreshState();
	setMessage(`Waiting for the broadcast "${name}"…`);
	// Follow the broadcast's announcements: read it while it is announced, wait while it is not.
	w.announced = s.connection.announced(Moq.Path.empty());
	try {
		for (;;) {
			const event = await w.announced.next();
			if (watcher !== w) return;
			if (!event) break;
			if (event.path !== path) continue;
			if (event.active) {
				readLoop(w, s);
			} else {
				closeBroadcast(w);
				setMessage(`"${name}" went offline; waiting for it to come back…`);
			}
		}
		if (watcher === w && session === s) setMessage(`The relay ended the announcements for "${name}".`);
	} catch (err) {
		if (watcher === w && session === s) setMessage(`Watching "${name}" failed: ${describe(err)}`);
	}
}

function closeBroadcast(w) {
	const broadcast = w.broadcast;
	w.broadcast = undefined;
	try {
		broadcast?.close();
	} catch {}
}

async function readLoop(w, s) {
	closeBroadcast(w);
	const broadcast = s.connection.consume(w.path);
	w.broadcast = broadcast;
	const current = () => watcher === w && w.broadcast === broadcast;
	const ctx = ui.view.getContext("2d");
	let first = true;
	try {
		const sub = broadcast.subscribe(TRACK);
		for (;;) {
			const frame = await sub.readFrame(); // the newest frame: older groups are skipped
			if (!frame || !current()) break;
			let bitmap;
			try {
				bitmap = await createImageBitmap(new Blob([frame.payload], { type: "image/jpeg" }));
			} catch (err) {
				console.warn("a frame that is not an image:", err);
				continue;
			}
			if (!current()) {
				bitmap.close();
				break;
			}
			ctx.drawImage(bitmap, 0, 0, WIDTH, HEIGHT);
			bitmap.close();
			if (w.frames === 0) w.since = performance.now();
			if (first) setMessage(`Watching "${w.name}" over ${s.transport === "websocket" ? "WebSocket" : "WebTransport"}.`);
			first = false;
			w.frames++;
			w.bytes += frame.payload.byteLength;
			ui.view.dataset.frames = String(w.frames);
			ui.watchedStats.textContent = stats(w);
		}
	} catch (err) {
		if (current() && session === s) setMessage(`Reading "${w.name}" stopped: ${describe(err)}`);
	}
}

function stopWatching() {
	const w = watcher;
	if (!w) return;
	watcher = undefined;
	closeBroadcast(w);
	try {
		w.announced?.close();
	} catch {}
	placeholder(ui.view, "Not watching");
	ui.watchedStats.textContent = "";
}

// --- Client secrets ([auth] client_secret_key: the relay mints a token for a signed-in user) ---

async function clientSecret() {
	try {
		const res = await fetch(config.client_secret, { method: "POST", credentials: "include" });
		const body = await res.json().catch(() => null);
		if (!res.ok) {
			const why = body?.error ? `${body.error}${body.message ? `: ${body.message}` : ""}` : `HTTP ${res.status}`;
			throw new Error(why);
		}
		const value = body?.client_secret?.value;
		if (typeof value !== "string" || !value) throw new Error("the answer has no client_secret.value");
		ui.token.value = value;
		const expires = body.client_secret.expires_at;
		setMessage(`Got a token${expires ? `, valid until ${new Date(expires * 1000).toLocaleTimeString()}` : ""}.`);
	} catch (err) {
		setMessage(`Could not get a token from ${config.client_secret}: ${describe(err)}`);
	}
}

// --- Start ---

function placeholder(canvas, text) {
	const ctx = canvas.getContext("2d");
	ctx.fillStyle = "#111318";
	ctx.fillRect(0, 0, WIDTH, HEIGHT);
	ctx.fillStyle = "#7d8590";
	ctx.font = "20px system-ui, sans-serif";
	ctx.textAlign = "center";
	ctx.textBaseline = "middle";
	ctx.fillText(text, WIDTH / 2, HEIGHT / 2);
}

async function start() {
	placeholder(ui.preview, "Not publishing");
	placeholder(ui.view, "Not watching");
	const params = new URLSearchParams(location.search);
	let problem;
	try {
		const res = await fetch("/demo/config.json", { cache: "no-store" });
		if (!res.ok) throw new Error(`HTTP ${res.status}`);
		config = { ...config, ...(await res.json()) };
	} catch (err) {
		problem = `Could not read the relay's settings (/demo/config.json: ${describe(err)}); enter the relay URL.`;
	}
	ui.url.value = params.get("url") ?? (config.url || `https://${location.host}/`);
	ui.token.value = params.get("jwt") ?? "";
	const transport = params.get("transport");
	ui.transport.value = TRANSPORTS.includes(transport) ? transport : "auto";
	if (params.get("name")) ui.name.value = params.get("name");
	ui.clientSecret.hidden = !config.client_secret;
	ui.version.textContent = config.version ? `moq-relay ${config.version}` : "moq-relay";
	// Keep the token out of the address bar (and out of screenshots and shared links).
	if (params.has("jwt")) {
		params.delete("jwt");
		const query = params.toString();
		history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}${location.hash}`);
	}

	ui.publishPattern.addEventListener("click", () => publish("pattern"));
	ui.publishCamera.addEventListener("click", () => publish("camera"));
	ui.watch.addEventListener("click", () => watch());
	ui.stop.addEventListener("click", () => stop());
	ui.clientSecret.addEventListener("click", () => clientSecret());
	refreshState();
	let ready = "Ready: publish a test pattern, or watch a broadcast.";
	if (typeof WebTransport !== "function") {
		ready += isSecureContext
			? " This browser has no WebTransport: the page uses WebSocket."
			: " This page is not a secure context, so it has no WebTransport: it uses WebSocket.";
	}
	setState("idle", problem ?? ready);
	document.body.dataset.ready = "true";
}

start();
