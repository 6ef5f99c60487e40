// base64url (RFC 4648 §5) as JWS and JWK use it, with the same strictness as the Rust crate.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

/** Encode without padding. */
export function encode(bytes: Uint8Array | string): string {
	const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
	let out = "";
	let i = 0;
	for (; i + 2 < data.length; i += 3) {
		const n = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
		out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
	}
	const rest = data.length - i;
	if (rest === 1) {
		const n = data[i] << 16;
		out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
	} else if (rest === 2) {
		const n = (data[i] << 16) | (data[i + 1] << 8);
		out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63];
	}
	return out;
}

/**
 * Decode a token part: unpadded only, URL-safe alphabet only, and no set bits after the last
 * byte (non-canonical encodings are refused, as in Rust's `base64` crate).
 */
export function decodeStrict(s: string): Uint8Array | undefined {
	const len = s.length;
	if (len % 4 === 1) return undefined;
	const out = new Uint8Array(Math.floor((len * 3) / 4));
	let acc = 0;
	let bits = 0;
	let o = 0;
	for (let i = 0; i < len; i++) {
		const c = s.charCodeAt(i);
		const v = c < 128 ? LOOKUP[c] : -1;
		if (v < 0) return undefined;
		acc = ((acc << 6) | v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (acc >> bits) & 0xff;
		}
	}
	// Leftover bits (2 or 4) must be zero.
	if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) return undefined;
	return out;
}

/** Decode a key field or key file: padded or not (the `Indifferent` padding mode of Rust's `base64`). */
export function decodeLenient(s: string): Uint8Array | undefined {
	let end = s.length;
	while (end > 0 && s.charCodeAt(end - 1) === 61 /* = */) end--;
	const pads = s.length - end;
	if (pads > 0) {
		const inChunk = end % 4;
		if (pads > 2 || inChunk < 2 || inChunk + pads > 4) return undefined;
	}
	return decodeStrict(s.slice(0, end));
}
