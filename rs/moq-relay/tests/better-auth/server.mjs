// A Better Auth app for tests/it/better_auth.rs: memory adapter, email and password, the JWT plugin,
// the cookie cache in its "jwt" strategy. It listens on 127.0.0.1 (a free port), signs a user up,
// and prints one JSON line with its base URL and what the app hands out: the JWT plugin's token, the
// cookie-cache JWT, and, minted with Better Auth's own signer, an expired cookie-cache JWT and one
// signed with another secret. It serves until stdin closes.
import http from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins";
import { signJWT } from "better-auth/crypto";

const secret = process.env.BETTER_AUTH_SECRET;
let handler = (_req, res) => res.writeHead(503).end();
const server = http.createServer((req, res) => handler(req, res));
await new Promise((ready) => server.listen(0, "127.0.0.1", ready));
const baseURL = `http://127.0.0.1:${server.address().port}`;

const auth = betterAuth({
	baseURL,
	secret,
	database: memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] }),
	emailAndPassword: { enabled: true },
	session: { cookieCache: { enabled: true, maxAge: 300, strategy: "jwt" } },
	plugins: [jwt()],
	telemetry: { enabled: false },
});
handler = toNodeHandler(auth);

/// The cookies a response sets, by name.
function cookies(response) {
	const jar = {};
	for (const line of response.headers.getSetCookie()) {
		const [pair] = line.split(";");
		const at = pair.indexOf("=");
		jar[pair.slice(0, at)] = pair.slice(at + 1);
	}
	return jar;
}

const signUp = await fetch(`${baseURL}/api/auth/sign-up/email`, {
	method: "POST",
	headers: { "content-type": "application/json", origin: baseURL },
	body: JSON.stringify({ email: "alice@example.com", password: "correct horse battery", name: "Alice" }),
});
if (!signUp.ok) throw new Error(`sign-up: ${signUp.status} ${await signUp.text()}`);
const user = (await signUp.json()).user;
const jar = cookies(signUp);
const sessionCookie = `better-auth.session_token=${jar["better-auth.session_token"]}`;
const token = await fetch(`${baseURL}/api/auth/token`, { headers: { cookie: sessionCookie } });
if (!token.ok) throw new Error(`token: ${token.status} ${await token.text()}`);
const cookieCache = jar["better-auth.session_data"];
const payload = JSON.parse(Buffer.from(cookieCache.split(".")[1], "base64url"));
delete payload.iat;
delete payload.exp;

console.log(
	JSON.stringify({
		base_url: baseURL,
		user_id: user.id,
		plugin_jwt: (await token.json()).token,
		cookie_cache: cookieCache,
		cookie_cache_expired: await signJWT(payload, secret, -3600),
		cookie_cache_other_secret: await signJWT(payload, `${secret}-not`, 300),
	}),
);
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
