// Launching headless Chromium for the drivers in this directory (webtransport.mjs, websocket.mjs,
// demo.mjs): Debian's /usr/bin/chromium, or $CHROMIUM.
//
// Never --disable-quic: WebTransport needs QUIC.

import { chromium } from "playwright-core";

export const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";

const ARGS = [
	"--no-sandbox",
	"--headless",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--no-first-run",
];

/** Chromium with the common flags and `extra` ones. */
export function launch(extra = []) {
	return chromium.launch({ executablePath, headless: true, args: [...ARGS, ...extra] });
}
