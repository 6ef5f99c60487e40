//! Which web pages may use a browser's ambient credentials (cookies) at the relay.
//!
//! A browser attaches its cookies for the relay's host to every request a page makes to it,
//! whichever site the page is on; WebSocket upgrades are not subject to CORS. So a request that
//! carries a `Cookie` and an `Origin` (a page made it) is served only when that origin is the
//! relay's own (the same host and port as the request's `Host`) or is listed in `[web]
//! allowed_origins`; otherwise it is refused with 403 `origin_not_allowed` before anything else
//! is looked at. Requests without a cookie (tokens in the URL or `Authorization`, which a page must
//! set on purpose) and requests without an `Origin` (native clients) are not affected.
//!
//! Every route that accepts a cookie credential runs [`AllowedOrigins::check`] first.

use axum::http::{HeaderMap, header};

/// The origins allowed to send cookies, from `[web] allowed_origins`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedOrigins {
	/// Lowercase `scheme://host[:port]`, no trailing slash.
	origins: Vec<String>,
	/// `*` was listed: every origin is allowed (the check is off).
	any: bool,
}

/// Why a cookie-carrying request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("this page's origin may not use cookies here: add it to [web] allowed_origins, or send a token instead")]
pub struct OriginRefused;

impl OriginRefused {
	/// The stable code (the JSON body's `error`, with HTTP 403).
	pub fn code(self) -> &'static str {
		"origin_not_allowed"
	}
}

impl AllowedOrigins {
	/// Checks and normalises the configured entries: each `*` or `http(s)://host[:port]` with
	/// nothing after the authority. The error names the entry's position, never its text.
	pub fn new<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
		let mut allowed = Self::default();
		for (i, entry) in entries.into_iter().enumerate() {
			let entry = entry.trim();
			if entry == "*" {
				allowed.any = true;
				continue;
			}
			let origin = normalise(entry).ok_or_else(|| {
				format!(
					"entry {} is not an origin: write it like https://web.example or http://localhost:8080 (scheme, host, optional port, nothing after)",
					i + 1
				)
			})?;
			allowed.origins.push(origin);
		}
		Ok(allowed)
	}

	/// Whether a request with these headers may go on: refused only when it carries a cookie and an
	/// `Origin` that is neither the relay's own (per `Host`) nor allowed.
	pub fn check(&self, headers: &HeaderMap) -> Result<(), OriginRefused> {
		if self.any || !headers.contains_key(header::COOKIE) {
			return Ok(());
		}
		let Some(origin) = headers.get(header::ORIGIN) else {
			return Ok(());
		};
		let Some(origin) = origin.to_str().ok().and_then(normalise) else {
			// `Origin: null` (a sandboxed page, a file) or garbage: never the relay's own.
			return Err(OriginRefused);
		};
		if self.origins.contains(&origin) {
			return Ok(());
		}
		let host = headers
			.get(header::HOST)
			.and_then(|h| h.to_str().ok())
			.map(str::to_ascii_lowercase);
		let authority = origin.split_once("://").map(|(_, authority)| authority);
		match (host, authority) {
			(Some(host), Some(authority)) if authority == host => Ok(()),
			_ => Err(OriginRefused),
		}
	}
}

/// `scheme://host[:port]` lowercased, for an `http` or `https` origin with nothing after the
/// authority (a trailing `/` is tolerated).
fn normalise(origin: &str) -> Option<String> {
	let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
	let (scheme, authority) = origin.split_once("://")?;
	let valid =
		matches!(scheme, "http" | "https") && !authority.is_empty() && !authority.contains(['/', '?', '#', '@', ' ']);
	valid.then_some(origin)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
		let mut map = HeaderMap::new();
		for (name, value) in pairs {
			map.insert(name.clone(), value.parse().unwrap());
		}
		map
	}

	#[test]
	fn cookies_from_another_site_are_refused_and_the_rest_pass() {
		let allowed = AllowedOrigins::new(["https://App.example/"]).unwrap();
		let cookie = (header::COOKIE, "session=s");
		let host = (header::HOST, "relay.example:4443");
		// Listed (case and trailing slash do not matter), or the relay's own origin.
		for origin in [
			"https://app.example",
			"https://relay.example:4443",
			"http://relay.example:4443",
		] {
			let request = headers(&[cookie.clone(), host.clone(), (header::ORIGIN, origin)]);
			assert_eq!(allowed.check(&request), Ok(()), "{origin}");
		}
		for origin in [
			"https://evil.example",
			"https://app.example:8443",
			"null",
			"https://relay.example",
		] {
			let request = headers(&[cookie.clone(), host.clone(), (header::ORIGIN, origin)]);
			assert_eq!(allowed.check(&request), Err(OriginRefused), "{origin}");
		}
		// No cookie, or no Origin (a native client): nothing ambient to protect.
		assert_eq!(
			allowed.check(&headers(&[host.clone(), (header::ORIGIN, "https://evil.example")])),
			Ok(())
		);
		assert_eq!(allowed.check(&headers(&[cookie.clone(), host.clone()])), Ok(()));
		// `*` turns the check off.
		let any = AllowedOrigins::new(["*"]).unwrap();
		assert_eq!(
			any.check(&headers(&[cookie, host, (header::ORIGIN, "https://evil.example")])),
			Ok(())
		);
		assert_eq!(OriginRefused.code(), "origin_not_allowed");
	}

	#[test]
	fn entries_must_be_origins_and_the_error_does_not_repeat_them() {
		for bad in [
			"app.example",
			"https://app.example/path",
			"ftp://app.example",
			"https://u@h",
		] {
			let err = AllowedOrigins::new(["https://ok.example", bad]).unwrap_err();
			assert!(err.contains("entry 2"), "{err}");
			assert!(!err.contains(bad), "{err}");
		}
	}
}
