//! Privacy Pass tokens never reach the logs: every crate's output at TRACE is captured while
//! Privacy Pass sessions are challenged, admitted (header and `?pp=`, WebTransport and raw QUIC) and
//! refused (replay, forged, wrapped, a dead Redis), then searched for the tokens, their nonces and
//! signatures, and the `Authorization` values. (Its own process: it owns the global subscriber.)

use crate::common;

use base64::Engine;
use common::{TestRelay, admitted, announce_ok, closed, webtransport, webtransport_closed, webtransport_served};
use moq_privacy_pass::{Issuer, IssuerKeyPair, Token, TokenChallenge, request_token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_privacy_pass_token_reaches_the_logs_at_trace() {
	// The relay's own filter with every crate at TRACE, and the CONNECT events asked for explicitly.
	let capture = common::Capture::install_trace();

	let issuer = Issuer::new(
		"http://issuer.test/token-request",
		vec![IssuerKeyPair::generate().unwrap()],
	)
	.unwrap();
	let key = issuer.keys()[0].public_key().clone();
	let scratch = crate::common::scratch("moq-relay-pp-logs-");
	let dir = scratch.path().to_path_buf();
	let key_file = dir.join("issuer.pub");
	std::fs::write(&key_file, key.to_base64()).unwrap();
	let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
	let dead_addr = dead.local_addr().unwrap();
	drop(dead);
	let start = |redis: Option<String>| {
		let key_file = key_file.clone();
		TestRelay::start_with(move |config| {
			config.auth.public = Some(vec!["anon".into()]);
			let pp = &mut config.privacypass;
			pp.enabled = Some(true);
			pp.issuer = Some("issuer.test".into());
			pp.issuer_key = Some(vec![key_file]);
			pp.subscribe = Some(vec![String::new()]);
			pp.redis = redis;
		})
	};
	let relay = start(None).await;
	let token_for = |challenge: &TokenChallenge| {
		let (request, state) = request_token(challenge, &key).unwrap();
		state.finalize(&issuer.issue_request(&request).unwrap()).unwrap()
	};

	let mut tokens: Vec<Token> = Vec::new();
	// Admitted: header on WebTransport, ?pp= on WebTransport and raw QUIC.
	for how in ["header", "wt-query", "quic-query"] {
		let (_, reason) = webtransport_closed(&webtransport(&relay, "/room", None).await).await;
		let token = token_for(&TokenChallenge::from_close_reason(&reason).unwrap());
		match how {
			"header" => {
				let header = format!("PrivateToken token=\"{}\"", token.to_base64());
				webtransport_served(&webtransport(&relay, "/room", Some(&header)).await).await;
				// Replayed: refused.
				let session = webtransport(&relay, "/room", Some(&header)).await;
				assert_eq!(webtransport_closed(&session).await.1, "token_replayed");
			}
			"wt-query" => {
				webtransport_served(&webtransport(&relay, &format!("/room?pp={}", token.to_base64()), None).await)
					.await;
			}
			_ => {
				announce_ok(&admitted(&relay, &format!("/room?pp={}", token.to_base64())).await).await;
				let conn = admitted(&relay, &format!("/room?pp={}", token.to_base64())).await;
				assert_eq!(closed(&conn).await.1, "token_replayed");
			}
		}
		tokens.push(token);
	}
	// Forged and wrapped-forged: refused.
	let (_, reason) = webtransport_closed(&webtransport(&relay, "/room", None).await).await;
	let token = token_for(&TokenChallenge::from_close_reason(&reason).unwrap());
	let mut forged = token.as_bytes().to_vec();
	forged[300] ^= 0x40;
	let forged = Token::from_bytes(&forged).unwrap();
	let wrapped = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_wrapped_bytes());
	for header in [
		format!("PrivateToken token=\"{}\"", forged.to_base64()),
		format!("PrivateToken token={wrapped}"),
	] {
		let session = webtransport(&relay, "/room", Some(&header)).await;
		assert_eq!(webtransport_closed(&session).await.1, "invalid_token: bad_signature");
	}
	tokens.push(forged);
	relay.stop().await;

	// A relay whose Redis is down: the token is refused with an error log that names no secret.
	let relay = start(Some(format!("redis://:redis-password-3e2d@{dead_addr}"))).await;
	let (_, reason) = webtransport_closed(&webtransport(&relay, "/room", None).await).await;
	let token = token_for(&TokenChallenge::from_close_reason(&reason).unwrap());
	let session = webtransport(&relay, &format!("/room?pp={}", token.to_base64()), None).await;
	assert_eq!(webtransport_closed(&session).await.1, "nonce_store_unavailable");
	tokens.push(token);
	relay.stop().await;

	let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
	assert!(
		logs.contains("session refused") && logs.contains("session admitted"),
		"the capture works"
	);
	assert!(
		logs.contains("nonce_store_unavailable"),
		"the dead Redis is logged with its code"
	);
	let mut needles = vec![
		"redis-password".to_string(),
		"?pp=".to_string(),
		"PrivateToken token".to_string(),
	];
	for token in &tokens {
		let b64 = token.to_base64();
		needles.push(b64.trim_end_matches('=').to_string());
		needles.push(base64::engine::general_purpose::STANDARD_NO_PAD.encode(token.as_bytes()));
		// The nonce (hex and as it sits in the base64) and the signature.
		needles.push(hex::encode(token.nonce()));
		needles.push(hex::encode(&token.nonce()[..8]));
		needles.push(b64[4..44].to_string());
		needles.push(b64[140..200].to_string());
	}
	for needle in needles {
		if let Some(line) = logs.lines().find(|l| l.contains(&needle)) {
			panic!("a Privacy Pass credential reached the logs ({needle:.12}...): {line:.200}");
		}
	}
}
