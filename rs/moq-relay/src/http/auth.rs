//! Authorization on HTTP routes (`docs/auth.md`, "Errors"; `docs/privacy-pass.md`): one function that decides a request with
//! the same [`Auth`] as MoQ sessions, and one place that turns a refusal into an HTTP answer.
//!
//! A request's credential is read from the query (`jwt=`, `token=`, `auth_id=`, `pp=`), the
//! `Authorization` header or the `kyutai-api-key` header; the auth service is told its method, route
//! and forwardable headers.
//!
//! A refusal is the status of [`AuthError::status`] with `{"error": "<code>", "message": "<text>"}`.
//! A Privacy Pass challenge is `401` with `WWW-Authenticate: PrivateToken challenge="...",
//! token-key="..."` (RFC 9577 §2.1); the client answers with `Authorization: PrivateToken token="..."`.

use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{Auth, AuthError, ConnectRequest, CredentialKind, Grant, Transport};
use crate::limits::AuthThrottle;
use crate::metrics::Metrics;

/// What is known of an HTTP request when it is decided.
#[derive(Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
	/// The method.
	pub method: &'a Method,
	/// The route's path (`/announced/room`), told to the auth service.
	pub route: &'a str,
	/// The query (credentials: `jwt=`, `token=`, `auth_id=`, `pp=`).
	pub query: Option<&'a str>,
	/// The headers (`Authorization`, `kyutai-api-key`, and what the auth service may be told).
	pub headers: &'a HeaderMap,
}

/// Decides an HTTP `GET` for the broadcast path `path` (its query may carry `jwt=`/`pp=`, its
/// headers `Authorization`). The answer to send back on refusal is ready-made.
pub async fn authorize(auth: &Auth, path: &str, query: Option<&str>, headers: &HeaderMap) -> Result<Grant, Response> {
	let request = HttpRequest {
		method: &Method::GET,
		route: path,
		query,
		headers,
	};
	decide(auth, path, request, None, None)
		.await
		.1
		.map_err(|err| err.into_response())
}

/// Decides `request` for the broadcast path `path`, from `address`: counted against its failed
/// attempts like a MoQ session's (`429 too_many_attempts` in a cool-down) and in `metrics`.
pub async fn authorize_from(
	auth: &Auth,
	throttle: &AuthThrottle,
	metrics: &Metrics,
	peer: std::net::SocketAddr,
	path: &str,
	request: HttpRequest<'_>,
) -> Result<Grant, Response> {
	let address = peer.ip();
	let now = tokio::time::Instant::now();
	let (kind, decided) = if throttle.allows(address, now) {
		decide(auth, path, request, Some(peer), Some(metrics)).await
	} else {
		(CredentialKind::None, Err(AuthError::TooManyAttempts))
	};
	match &decided {
		Ok(grant) => crate::audit::admitted(kind, grant, address, Transport::Http),
		Err(err) => crate::audit::refused(kind, err, address, Transport::Http),
	}
	decided.map_err(|err| {
		if err.counts_as_failure() {
			throttle.failed(address, now);
		}
		// Counted like a MoQ session's refusal (`moq_relay_auth_refused_total{code}`).
		metrics.auth_refused(err.code());
		err.into_response()
	})
}

async fn decide(
	auth: &Auth,
	path: &str,
	request: HttpRequest<'_>,
	remote: Option<std::net::SocketAddr>,
	metrics: Option<&Metrics>,
) -> (CredentialKind, Result<Grant, AuthError>) {
	let target = match request.query {
		Some(query) => format!("{path}?{query}"),
		None => path.to_string(),
	};
	let connect = match ConnectRequest::parse(&target).and_then(|c| c.with_headers(request.headers)) {
		Ok(connect) => connect
			.with_http(request.method.as_str(), request.route)
			.with_remote(remote),
		Err(err) => return (CredentialKind::Invalid, Err(err)),
	};
	match metrics {
		Some(metrics) => auth.admit(&connect, metrics).await,
		None => auth.decide(&connect).await,
	}
}

impl IntoResponse for AuthError {
	fn into_response(self) -> Response {
		let status = self.status();
		// A page on another origin reads the refusal (its code and, with Privacy Pass, the challenge).
		let mut response = (
			status,
			[
				(header::CONTENT_TYPE, "application/json"),
				(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
				(header::ACCESS_CONTROL_EXPOSE_HEADERS, "WWW-Authenticate"),
			],
			self.json(),
		)
			.into_response();
		if let AuthError::PrivacyPassChallenge(challenge) = &self
			&& let Ok(value) = HeaderValue::from_str(&challenge.www_authenticate)
		{
			response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
		}
		response
	}
}

#[cfg(test)]
mod tests {
	use std::time::Duration;

	use axum::Router;
	use axum::body::Body;
	use axum::extract::{Request, State};
	use axum::routing::get;
	use moq_privacy_pass::{
		Issuer, IssuerKeyPair, RedemptionContext, TokenChallenge, parse_www_authenticate, request_token,
	};
	use tower::ServiceExt;

	use super::*;
	use crate::auth::{PrivacyPass, PrivacyPassSettings, Public};

	/// A route that answers with the grant's subject, after [`authorize`].
	fn app(auth: Auth) -> Router {
		Router::new()
			.route(
				"/{*path}",
				get(|State(auth): State<Auth>, request: Request| async move {
					let uri = request.uri().clone();
					match authorize(&auth, uri.path(), uri.query(), request.headers()).await {
						Ok(grant) => grant.subject().unwrap_or("-").to_string().into_response(),
						Err(refusal) => refusal,
					}
				}),
			)
			.with_state(auth)
	}

	async fn call(app: &Router, uri: &str, authorization: Option<&str>) -> Response {
		let mut request = Request::get(uri);
		if let Some(value) = authorization {
			request = request.header(header::AUTHORIZATION, value);
		}
		app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap()
	}

	async fn body(response: Response) -> String {
		let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
		String::from_utf8(bytes.to_vec()).unwrap()
	}

	#[tokio::test]
	async fn challenge_then_token_then_replay() {
		let issuer = Issuer::new(
			"http://issuer.test/token-request",
			vec![IssuerKeyPair::generate().unwrap()],
		)
		.unwrap();
		let key = issuer.keys()[0].public_key().clone();
		let pp = PrivacyPass::new(PrivacyPassSettings {
			issuer: "issuer.test".into(),
			keys: vec![key.clone()],
			directory: None,
			redis: None,
			redis_root_cert: None,
			root: moq_token::Path::root(),
			publish: vec![],
			subscribe: vec![moq_token::Path::root()],
			challenge_ttl: Duration::from_secs(60),
			redemption_context: RedemptionContext::Fresh,
			origins: vec!["relay.test".into()],
			setup_token_type: 2,
		})
		.unwrap();
		let app = app(Auth::new(Public::both(moq_token::Path::new("anon").unwrap()), None).with_privacy_pass(pp));

		let public = call(&app, "/anon/x", None).await;
		assert_eq!(public.status(), 200);
		assert_eq!(body(public).await, "anonymous");

		let refused = call(&app, "/room", None).await;
		assert_eq!(refused.status(), 401);
		let www = refused.headers()[header::WWW_AUTHENTICATE]
			.to_str()
			.unwrap()
			.to_string();
		let json: serde_json::Value = serde_json::from_str(&body(refused).await).unwrap();
		assert_eq!(json["error"], "missing_credential");
		let challenges = parse_www_authenticate(&www).unwrap();
		assert_eq!(challenges.len(), 1);
		assert_eq!(challenges[0].token_key, key.spki());
		let challenge: &TokenChallenge = &challenges[0].challenge;
		assert_eq!(challenge.origin_info(), b"relay.test");

		let (request, state) = request_token(challenge, &key).unwrap();
		let token = state.finalize(&issuer.issue_request(&request).unwrap()).unwrap();
		let header = format!("PrivateToken token=\"{}\"", token.to_base64());
		let ok = call(&app, "/room", Some(&header)).await;
		assert_eq!(ok.status(), 200);
		assert_eq!(body(ok).await, "privacypass");

		let replay = call(&app, "/room", Some(&header)).await;
		assert_eq!(replay.status(), 401);
		let json: serde_json::Value = serde_json::from_str(&body(replay).await).unwrap();
		assert_eq!(json["error"], "token_replayed");
		// A refused token never turns into anonymous access, even on a public path.
		let at_public = call(&app, "/anon/x", Some(&header)).await;
		assert_eq!(at_public.status(), 401);
	}
}
