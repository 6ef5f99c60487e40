//! What the relay knows about a session when it decides: the connection path, the query, the
//! credential headers, and the facts a delegated auth service is told (transport, method, the
//! request's path and its forwardable headers). Credentials live here and nowhere else; `Debug`
//! redacts them.

use axum::http::HeaderMap;
use moq_token::Path;
use std::borrow::Cow;

use super::AuthError;

/// The header moshi-server clients send their API key in (`docs/auth.md`, "Coming from moshi-server").
pub const API_KEY_HEADER: &str = "kyutai-api-key";

/// The names of Better Auth's session cookie (`docs/auth.md`, "Better Auth"): plain, and with the
/// `__Secure-` prefix an app served over HTTPS gives it.
pub const SESSION_COOKIES: [&str; 2] = ["better-auth.session_token", "__Secure-better-auth.session_token"];

/// How a request reached the relay: the `transport` fact told to the auth service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Transport {
	/// A WebTransport session (HTTP/3 extended CONNECT).
	WebTransport,
	/// A raw QUIC session (moq-lite ALPN; the path arrives in SETUP).
	#[default]
	Quic,
	/// A WebSocket session.
	WebSocket,
	/// An HTTP request to one of the relay's routes.
	Http,
}

impl Transport {
	/// The name in the auth service's request (`webtransport`, `quic`, `websocket`, `http`).
	pub fn as_str(self) -> &'static str {
		match self {
			Self::WebTransport => "webtransport",
			Self::Quic => "quic",
			Self::WebSocket => "websocket",
			Self::Http => "http",
		}
	}

	/// The request method a session stands for: `CONNECT` (WebTransport, WebSocket upgrades are
	/// `GET`), `SETUP` on raw QUIC, which has no HTTP request.
	fn method(self) -> &'static str {
		match self {
			Self::WebTransport => "CONNECT",
			Self::Quic => "SETUP",
			Self::WebSocket | Self::Http => "GET",
		}
	}
}

/// A connection request: path, query, credential headers and the facts around them.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectRequest {
	path: Path,
	query: Option<String>,
	authorization: Option<String>,
	api_key: Option<String>,
	/// Better Auth's session cookie, as `name=value` (the `Cookie` header's pair).
	session_cookie: Option<String>,
	transport: Transport,
	method: Option<String>,
	request_path: Option<String>,
	headers: Vec<(String, String)>,
	/// The peer's address and port (told to the auth server of `[auth] url`).
	remote: Option<std::net::SocketAddr>,
}

impl std::fmt::Debug for ConnectRequest {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		// `docs/relay.md`: "The query carries credentials and must never be logged."
		f.debug_struct("ConnectRequest")
			.field("path", &self.path)
			.field("query", &self.query.as_ref().map(|_| "<redacted>"))
			.field("authorization", &self.authorization.as_ref().map(|_| "<redacted>"))
			.field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
			.field("session_cookie", &self.session_cookie.as_ref().map(|_| "<redacted>"))
			.field("transport", &self.transport)
			.field("remote", &self.remote)
			.field(
				"headers",
				&self.headers.iter().map(|(name, _)| name).collect::<Vec<_>>(),
			)
			.finish()
	}
}

/// Whether a request header may be told to the auth service. The credential headers
/// (`authorization`, `proxy-authorization`, `cookie`, the API key header) never are; neither are
/// proxy and infrastructure headers (`x-forwarded-*`, `forwarded`, `x-real-ip`, `host`) nor the
/// relay's own (`x-moq-*`, and `x-sayna-*` for services written for Sayna).
pub fn forwardable_header(name: &str) -> bool {
	let name = name.to_ascii_lowercase();
	!(matches!(
		name.as_str(),
		"authorization" | "proxy-authorization" | "cookie" | "host" | "x-real-ip" | "forwarded" | API_KEY_HEADER
	) || name.starts_with("x-forwarded-")
		|| name.starts_with("x-moq-")
		|| name.starts_with("x-sayna-"))
}

/// Whether `headers` carry Better Auth's session cookie.
pub fn has_session_cookie(headers: &HeaderMap) -> bool {
	session_cookie(headers).is_some()
}

/// Better Auth's session cookie in `headers`, as `name=value`.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
	headers
		.get_all(axum::http::header::COOKIE)
		.iter()
		.filter_map(|value| value.to_str().ok())
		.flat_map(|value| value.split(';'))
		.filter_map(|pair| pair.trim().split_once('='))
		.find(|(name, value)| SESSION_COOKIES.contains(name) && !value.is_empty())
		.map(|(name, value)| format!("{name}={value}"))
}

impl ConnectRequest {
	/// Splits `"/path?query"` (a CONNECT `:path` or a SETUP Path value), percent-decodes the path
	/// and normalizes it. An empty string or `/` is the root. "Percent-decoding happens before
	/// any path check" (`docs/auth.md`), so `/%2E%2E/x` is refused like `/../x`.
	pub fn parse(target: &str) -> Result<Self, AuthError> {
		let (path, query) = match target.split_once('?') {
			Some((path, query)) => (path, Some(query.to_string())),
			None => (target, None),
		};
		let path = percent_decode(path).ok_or(AuthError::InvalidPath)?;
		let path = Path::new(&path).map_err(|_| AuthError::InvalidPath)?;
		Ok(Self {
			query: query.filter(|q| !q.is_empty()),
			..Self::at(path)
		})
	}

	/// A request for `path` with no credential yet: what an IETF draft request's AUTHORIZATION
	/// TOKEN is judged as, at its session's root.
	pub fn at(path: Path) -> Self {
		Self {
			path,
			query: None,
			authorization: None,
			api_key: None,
			session_cookie: None,
			transport: Transport::default(),
			method: None,
			request_path: None,
			headers: Vec::new(),
			remote: None,
		}
	}

	/// The request from `remote` (an address and port).
	pub fn with_remote(mut self, remote: Option<std::net::SocketAddr>) -> Self {
		self.remote = remote;
		self
	}

	/// The peer's address and port, if known.
	pub fn remote(&self) -> Option<std::net::SocketAddr> {
		self.remote
	}

	/// The request with the `Authorization` header of a WebTransport CONNECT.
	pub fn with_authorization(mut self, value: Option<String>) -> Self {
		self.authorization = value;
		self
	}

	/// The request as it came over `transport`.
	pub fn with_transport(mut self, transport: Transport) -> Self {
		self.transport = transport;
		self
	}

	/// The request with the headers of an HTTP request (or a WebTransport CONNECT, or a WebSocket
	/// upgrade): its `Authorization` and API key headers as credentials, and the
	/// [forwardable](forwardable_header) others for the auth service. A credential header that is
	/// not text is `invalid_auth_header`.
	pub fn with_headers(mut self, headers: &HeaderMap) -> Result<Self, AuthError> {
		let text = |name: &str| {
			headers
				.get(name)
				.map(|v| v.to_str().map(str::to_string).map_err(|_| AuthError::InvalidAuthHeader))
				.transpose()
		};
		self.authorization = text("authorization")?;
		self.api_key = text(API_KEY_HEADER)?;
		self.session_cookie = session_cookie(headers);
		self.headers = headers
			.iter()
			.filter(|(name, _)| forwardable_header(name.as_str()))
			.filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
			.collect();
		Ok(self)
	}

	/// The request as an HTTP request: its method and its path (the route, not the broadcast path).
	pub fn with_http(mut self, method: &str, request_path: &str) -> Self {
		self.transport = Transport::Http;
		self.method = Some(method.to_string());
		self.request_path = Some(request_path.to_string());
		self
	}

	/// The connection path (the session's root).
	pub fn path(&self) -> &Path {
		&self.path
	}

	/// How the request came.
	pub fn transport(&self) -> Transport {
		self.transport
	}

	/// The request method (`CONNECT` for WebTransport, `SETUP` for raw QUIC, the HTTP method).
	pub fn method(&self) -> &str {
		self.method.as_deref().unwrap_or(self.transport.method())
	}

	/// The request's path without its query: the HTTP route, or `/` and the connection path.
	pub fn request_path(&self) -> Cow<'_, str> {
		match &self.request_path {
			Some(path) => Cow::Borrowed(path),
			None => Cow::Owned(format!("/{}", self.path.as_str())),
		}
	}

	/// The raw query, without the `?` (it may hold a credential: never log it).
	pub fn query(&self) -> Option<&str> {
		self.query.as_deref()
	}

	/// Better Auth's session cookie, when the request carries one: a credential only for a relay
	/// that verifies it (an identity with the `better-auth` preset), and only when the request has no
	/// other credential (a token is presented on purpose; a cookie comes with every request).
	pub fn session_cookie(&self) -> Option<Credential<'_>> {
		self.session_cookie
			.as_deref()
			.map(|c| Credential::SessionCookie(Cow::Borrowed(c)))
	}

	/// The headers an auth service may be told (lowercase names; never a credential).
	pub fn forwarded_headers(&self) -> &[(String, String)] {
		&self.headers
	}

	/// The one credential of the request, if any.
	///
	/// Query `jwt=`, `token=` or `auth_id=` (for each name the last non-empty value wins), or
	/// `Authorization: Bearer <credential>`: a [`Credential::Token`]. The `kyutai-api-key` header: a
	/// [`Credential::ApiKey`]. Query `pp=` or `Authorization: PrivateToken token="..."`: a
	/// [`Credential::PrivacyPass`]. Two different credentials are ambiguous: the relay never
	/// guesses which one was meant.
	pub fn credential(&self) -> Result<Option<Credential<'_>>, AuthError> {
		let mut found: Vec<Credential<'_>> = Vec::new();
		if let Some(query) = &self.query {
			for name in ["jwt", "token", "auth_id", "pp"] {
				let last = query
					.split('&')
					.filter_map(|pair| pair.split_once('='))
					.filter(|(key, value)| *key == name && !value.is_empty())
					.map(|(_, value)| value)
					.next_back();
				if let Some(value) = last {
					let value =
						percent_decode(value).ok_or(AuthError::InvalidToken(moq_token::ErrorCode::Malformed))?;
					found.push(match name {
						"pp" => Credential::PrivacyPass(PrivacyPassCredential::Query(value)),
						_ => Credential::Token(value),
					});
				}
			}
		}
		if let Some(header) = &self.authorization {
			if moq_privacy_pass::is_private_token_authorization(header) {
				found.push(Credential::PrivacyPass(PrivacyPassCredential::Header(header)));
			} else {
				let (scheme, value) = header.trim().split_once(' ').ok_or(AuthError::InvalidAuthHeader)?;
				let value = value.trim();
				if !scheme.eq_ignore_ascii_case("bearer") || value.is_empty() {
					return Err(AuthError::InvalidAuthHeader);
				}
				found.push(Credential::Token(Cow::Borrowed(value)));
			}
		}
		if let Some(key) = self.api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
			// The same secret as a Bearer token or `auth_id=` is one credential, not two.
			if !found.iter().any(|c| matches!(c, Credential::Token(t) if t == key)) {
				found.push(Credential::ApiKey(Cow::Borrowed(key)));
			}
		}
		found.dedup();
		match found.len() {
			0 => Ok(None),
			1 => Ok(found.pop()),
			_ => Err(AuthError::AmbiguousCredentials),
		}
	}
}

/// A credential of a request. `Debug` never shows its value.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential<'a> {
	/// A bearer credential (a JWT, an API key, or a token for the auth service): `?jwt=`,
	/// `?token=`, `?auth_id=`, `Authorization: Bearer`.
	Token(Cow<'a, str>),
	/// The `kyutai-api-key` header: an API key and nothing else.
	ApiKey(Cow<'a, str>),
	/// A Privacy Pass token (`docs/privacy-pass.md`).
	PrivacyPass(PrivacyPassCredential<'a>),
	/// Better Auth's session cookie, `name=value` ([`ConnectRequest::session_cookie`]).
	SessionCookie(Cow<'a, str>),
}

/// Where a Privacy Pass token came from.
#[derive(Clone, PartialEq, Eq)]
pub enum PrivacyPassCredential<'a> {
	/// `?pp=<base64url token>` (browsers: WebTransport sends no custom headers), percent-decoded.
	Query(Cow<'a, str>),
	/// The whole `Authorization: PrivateToken token="..."` value (native clients).
	Header(&'a str),
}

impl std::fmt::Debug for Credential<'_> {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			Self::Token(_) => f.write_str("Token(<redacted>)"),
			Self::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
			Self::SessionCookie(_) => f.write_str("SessionCookie(<redacted>)"),
			Self::PrivacyPass(PrivacyPassCredential::Query(_)) => f.write_str("PrivacyPass(Query(<redacted>))"),
			Self::PrivacyPass(PrivacyPassCredential::Header(_)) => f.write_str("PrivacyPass(Header(<redacted>))"),
		}
	}
}

impl std::fmt::Debug for PrivacyPassCredential<'_> {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			Self::Query(_) => f.write_str("Query(<redacted>)"),
			Self::Header(_) => f.write_str("Header(<redacted>)"),
		}
	}
}

/// RFC 3986 §2.1 percent-decoding to UTF-8; `None` for a bad escape or invalid UTF-8.
///
/// `percent-encoding` decodes; it keeps a malformed escape as it is, so this checks first that
/// every `%` starts one (`%` HEXDIG HEXDIG): the relay refuses what it cannot read exactly.
fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
	let bytes = s.as_bytes();
	let well_formed = bytes.iter().enumerate().filter(|(_, b)| **b == b'%').all(|(i, _)| {
		bytes
			.get(i + 1..i + 3)
			.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
	});
	if !well_formed {
		return None;
	}
	percent_encoding::percent_decode_str(s).decode_utf8().ok()
}

#[cfg(test)]
mod tests {
	use super::*;

	fn req(target: &str) -> ConnectRequest {
		ConnectRequest::parse(target).unwrap()
	}

	#[test]
	fn paths_are_decoded_before_checks() {
		assert_eq!(req("/room%2F123").path().as_str(), "room/123");
		assert_eq!(req("").path(), &Path::root());
		assert_eq!(req("/caf%C3%A9/%25").path().as_str(), "café/%");
		for bad in [
			"/a/../b",
			"/%2E%2E/secret",
			"/%2e%2e",
			"/a/%2E",
			"/%zz",
			"/%C3",
			"/%",
			"/%4",
			"/a%4g",
			"/%%41",
			"/%+f",
			"/%FF",
		] {
			assert_eq!(ConnectRequest::parse(bad).unwrap_err(), AuthError::InvalidPath, "{bad}");
		}
	}

	fn token(c: Option<Credential<'_>>) -> Option<String> {
		match c {
			Some(Credential::Token(t)) => Some(t.into_owned()),
			other => panic!("expected a token credential, got {other:?}"),
		}
	}

	#[test]
	fn credentials() {
		assert_eq!(req("/a").credential().unwrap(), None);
		assert_eq!(
			req("/a?jwt=").credential().unwrap(),
			None,
			"an empty jwt= is no credential"
		);
		assert_eq!(
			token(req("/a?jwt=x&jwt=y").credential().unwrap()).as_deref(),
			Some("y"),
			"last wins"
		);
		assert_eq!(
			token(req("/a?jwt=x&jwt=").credential().unwrap()).as_deref(),
			Some("x"),
			"last non-empty wins"
		);
		assert_eq!(token(req("/a?token=t").credential().unwrap()).as_deref(), Some("t"));
		assert_eq!(
			token(req("/a?auth_id=i&other=1").credential().unwrap()).as_deref(),
			Some("i")
		);
		assert_eq!(token(req("/a?jwt=a%2Eb").credential().unwrap()).as_deref(), Some("a.b"));
		for bad in ["/a?jwt=a%2", "/a?jwt=%zz", "/a?jwt=%C3"] {
			assert_eq!(
				req(bad).credential().unwrap_err(),
				AuthError::InvalidToken(moq_token::ErrorCode::Malformed),
				"{bad}"
			);
		}
		assert_eq!(
			req("/a?jwt=x&token=y").credential().unwrap_err(),
			AuthError::AmbiguousCredentials
		);
		assert_eq!(
			token(req("/a?jwt=x&token=x").credential().unwrap()).as_deref(),
			Some("x"),
			"the same one twice"
		);

		let bearer = |h: &str| req("/a").with_authorization(Some(h.to_string()));
		assert_eq!(
			token(bearer("Bearer abc").credential().unwrap()).as_deref(),
			Some("abc")
		);
		assert_eq!(
			token(bearer("bearer  abc ").credential().unwrap()).as_deref(),
			Some("abc")
		);
		for bad in ["Basic abc", "Bearer", "Bearer ", "abc", "PrivateTokenx token=x"] {
			assert_eq!(
				bearer(bad).credential().unwrap_err(),
				AuthError::InvalidAuthHeader,
				"{bad}"
			);
		}
		let both = req("/a?jwt=x").with_authorization(Some("Bearer y".into()));
		assert_eq!(both.credential().unwrap_err(), AuthError::AmbiguousCredentials);
	}

	#[test]
	fn privacy_pass_credentials() {
		let header = "PrivateToken token=\"abc\"";
		let r = req("/a").with_authorization(Some(header.into()));
		assert_eq!(
			r.credential().unwrap(),
			Some(Credential::PrivacyPass(PrivacyPassCredential::Header(header)))
		);
		assert_eq!(
			req("/a?pp=a%2Db").credential().unwrap(),
			Some(Credential::PrivacyPass(PrivacyPassCredential::Query("a-b".into())))
		);
		assert_eq!(
			req("/a?jwt=x&pp=y").credential().unwrap_err(),
			AuthError::AmbiguousCredentials
		);
		let both = req("/a?pp=y").with_authorization(Some(header.into()));
		assert_eq!(both.credential().unwrap_err(), AuthError::AmbiguousCredentials);
		let shown = format!("{:?}", r.credential().unwrap());
		assert!(!shown.contains("abc"), "{shown}");
	}

	#[test]
	fn headers_carry_credentials_and_only_forwardable_facts() {
		let mut headers = HeaderMap::new();
		for (name, value) in [
			("kyutai-api-key", "api-secret"),
			("cookie", "better-auth.session_token=c"),
			("user-agent", "client-agent"),
			("content-type", "application/json"),
			("x-forwarded-for", "10.0.0.1"),
			("x-real-ip", "10.0.0.1"),
			("x-sayna-internal", "1"),
			("x-moq-internal", "1"),
			("host", "relay.example"),
			("proxy-authorization", "Basic x"),
		] {
			headers.insert(name, value.parse().unwrap());
		}
		let r = req("/room")
			.with_headers(&headers)
			.unwrap()
			.with_http("GET", "/announced/room");
		assert_eq!(
			r.credential().unwrap(),
			Some(Credential::ApiKey(Cow::Borrowed("api-secret")))
		);
		let mut forwarded: Vec<&str> = r.forwarded_headers().iter().map(|(n, _)| n.as_str()).collect();
		forwarded.sort();
		assert_eq!(forwarded, ["content-type", "user-agent"]);
		assert_eq!(
			(r.transport(), r.method(), &*r.request_path()),
			(Transport::Http, "GET", "/announced/room")
		);
		let shown = format!("{r:?}");
		assert!(
			!shown.contains("api-secret") && !shown.contains("client-agent"),
			"{shown}"
		);
		// The session cookie is read (never forwarded, never shown), but is not `credential()`'s.
		let cookie = r.session_cookie().unwrap();
		assert_eq!(cookie, Credential::SessionCookie("better-auth.session_token=c".into()));
		assert!(!format!("{cookie:?} {shown}").contains("=c"), "{shown}");
		let mut secure = HeaderMap::new();
		secure.append(
			"cookie",
			"theme=dark; __Secure-better-auth.session_token=s.sig".parse().unwrap(),
		);
		assert_eq!(
			req("/").with_headers(&secure).unwrap().session_cookie(),
			Some(Credential::SessionCookie(
				"__Secure-better-auth.session_token=s.sig".into()
			))
		);
		secure.insert("cookie", "better-auth.session_data=x".parse().unwrap());
		assert_eq!(req("/").with_headers(&secure).unwrap().session_cookie(), None);

		// The same secret in a second place is one credential; a different one is ambiguous.
		let same = req("/room?auth_id=api-secret").with_headers(&headers).unwrap();
		assert_eq!(token(same.credential().unwrap()).as_deref(), Some("api-secret"));
		let other = req("/room?auth_id=other").with_headers(&headers).unwrap();
		assert_eq!(other.credential().unwrap_err(), AuthError::AmbiguousCredentials);

		let quic = req("/room/1");
		assert_eq!(
			(quic.transport(), quic.method(), &*quic.request_path()),
			(Transport::Quic, "SETUP", "/room/1")
		);
		let wt = req("/room").with_transport(Transport::WebTransport);
		assert_eq!((wt.transport().as_str(), wt.method()), ("webtransport", "CONNECT"));
	}

	#[test]
	fn debug_redacts_credentials() {
		let text = format!(
			"{:?}",
			req("/anon?jwt=secret").with_authorization(Some("Bearer other".into()))
		);
		assert!(!text.contains("secret") && !text.contains("other"), "{text}");
	}
}
