//! The request body of a JSON route (`POST /revoke`, `POST /v1/client_secrets`): read only once the
//! route needs it, at most [`MAX`] bytes, and whole within `[limits] http_timeout`.
//!
//! hyper bounds how long a request's headers may take, not its body: a client that declared a
//! body and never sent it kept its connection (and its HTTP place) for as long as it liked, and
//! axum's default limit let one connection make the relay hold 2 MB for a body no route needs.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The largest body a JSON route reads: its JSON is a few hundred bytes.
pub const MAX: usize = 64 * 1024;

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
	/// Longer than [`MAX`].
	#[error("the request body is longer than {MAX} bytes")]
	TooLarge,
	/// Not whole within the timeout.
	#[error("the request body did not arrive within {0:?} ([limits] http_timeout): send it with the headers")]
	Timeout(Duration),
	/// The connection failed while it arrived.
	#[error("the request body could not be read")]
	Broken,
}

impl BodyError {
	/// The stable code.
	pub fn code(self) -> &'static str {
		match self {
			Self::TooLarge => "body_too_large",
			Self::Timeout(_) => "body_timeout",
			Self::Broken => "invalid_request",
		}
	}

	/// The answer: 413, 408 or 400 with `{"error": code, "message": …}`.
	pub fn into_response(self) -> Response {
		let status = match self {
			Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
			Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
			Self::Broken => StatusCode::BAD_REQUEST,
		};
		let body = serde_json::json!({ "error": self.code(), "message": self.to_string() }).to_string();
		(status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
	}
}

/// The whole body, at most [`MAX`] bytes, within `timeout`.
pub async fn read(body: Body, timeout: Duration) -> Result<Bytes, BodyError> {
	match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX)).await {
		Ok(Ok(bytes)) => Ok(bytes),
		Ok(Err(err)) if is_over_limit(&err) => Err(BodyError::TooLarge),
		Ok(Err(_)) => Err(BodyError::Broken),
		Err(_) => Err(BodyError::Timeout(timeout)),
	}
}

/// Whether `to_bytes` stopped at the limit (its error wraps http-body-util's `LengthLimitError`).
fn is_over_limit(err: &axum::Error) -> bool {
	let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
	while let Some(error) = source {
		if error.is::<http_body_util::LengthLimitError>() {
			return true;
		}
		source = error.source();
	}
	false
}

#[cfg(test)]
mod tests {
	use super::*;

	#[tokio::test(start_paused = true)]
	async fn a_body_is_read_whole_within_its_bounds() {
		let timeout = Duration::from_secs(10);
		assert_eq!(read(Body::from("{}"), timeout).await.unwrap(), Bytes::from("{}"));
		assert_eq!(
			read(Body::from(vec![b' '; MAX + 1]), timeout).await,
			Err(BodyError::TooLarge)
		);
		// A body that never arrives: refused at the timeout (paused clock: no wait here).
		let never = Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
		assert_eq!(read(never, timeout).await, Err(BodyError::Timeout(timeout)));
		let answer = BodyError::Timeout(timeout).into_response();
		assert_eq!(answer.status(), StatusCode::REQUEST_TIMEOUT);
	}
}
