//! Malformed and hostile input: only the offending stream or session is
//! closed, with the code of `docs/protocol.md` ("Error codes"), and the relay keeps serving others.

use crate::common;

use bytes::{BufMut, BytesMut};
use common::{TestRelay, admitted, announce_ok, closed, raw_connect, send_uni, within};
use moq_relay::wire::{AnnounceRequest, BidiType, Encode, SessionCode, Setup, UniType, VarInt, Version};
use web_transport_quinn::quinn;

const V: Version = Version::Lite05;

fn bytes<T: Encode>(message: &T) -> Vec<u8> {
	message.to_bytes(V).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_setup_closes_only_that_session() {
	let relay = TestRelay::start(Some("anon")).await;
	let bystander = admitted(&relay, "/anon").await;
	announce_ok(&bystander).await;

	let conn = admitted(&relay, "/anon").await;
	announce_ok(&conn).await;
	send_uni(&conn, &[bytes(&UniType::Setup), bytes(&Setup::default())].concat()).await;
	let (code, reason) = closed(&conn).await;
	assert_eq!(code, u64::from(SessionCode::PROTOCOL_VIOLATION.into_inner()));
	assert!(reason.contains("SETUP"), "{reason}");

	announce_ok(&bystander).await;
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_stream_types_reset_only_that_stream() {
	let relay = TestRelay::start(Some("anon")).await;
	let conn = admitted(&relay, "/anon").await;

	// Unknown bidi type 0x9: that stream is reset.
	let (mut send, mut recv) = conn.open_bi().await.unwrap();
	send.write_all(&[0x09]).await.unwrap();
	match within("reset of the unknown bidi stream", recv.read_chunk(16, true)).await {
		Err(quinn::ReadError::Reset(_)) => {}
		other => panic!("expected a reset, got {other:?}"),
	}
	// Unknown uni type 0x7: that stream is stopped.
	let mut uni = conn.open_uni().await.unwrap();
	uni.write_all(&[0x07]).await.unwrap();
	assert!(within("STOP_SENDING", uni.stopped()).await.unwrap().is_some());

	// The session itself is still served.
	announce_ok(&conn).await;
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_control_message_is_a_protocol_violation() {
	let relay = TestRelay::start(Some("anon")).await;
	let bystander = admitted(&relay, "/anon").await;
	let conn = admitted(&relay, "/anon").await;
	announce_ok(&conn).await;

	let (mut send, _recv) = conn.open_bi().await.unwrap();
	let full = bytes(&AnnounceRequest {
		prefix: "clock".into(),
		exclude_hop: VarInt::ZERO,
	});
	send.write_all(&bytes(&BidiType::Announce)).await.unwrap();
	send.write_all(&full[..full.len() - 2]).await.unwrap();
	send.finish().unwrap();
	let (code, _) = closed(&conn).await;
	assert_eq!(code, u64::from(SessionCode::PROTOCOL_VIOLATION.into_inner()));

	announce_ok(&bystander).await;
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_length_is_a_protocol_violation() {
	let relay = TestRelay::start(Some("anon")).await;
	let bystander = admitted(&relay, "/anon").await;
	let conn = admitted(&relay, "/anon").await;
	announce_ok(&conn).await;

	let (mut send, _recv) = conn.open_bi().await.unwrap();
	let mut message = BytesMut::new();
	message.put_slice(&bytes(&BidiType::Subscribe));
	// A Message Length of 2^62-1, far over the 64 MiB limit.
	VarInt::MAX.encode(&mut message);
	message.put_slice(&[0u8; 16]);
	// The relay may close as soon as it reads the length: the close is what is checked.
	let _ = send.write_all(&message).await;
	let (code, _) = closed(&conn).await;
	assert_eq!(code, u64::from(SessionCode::PROTOCOL_VIOLATION.into_inner()));

	announce_ok(&bystander).await;
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_setup_closes_the_session() {
	let relay = TestRelay::start(Some("anon")).await;
	let conn = raw_connect(&relay, "moq-lite-05").await;
	// One parameter (Role, 0x3) whose varint value has a trailing byte.
	send_uni(
		&conn,
		&[&bytes(&UniType::Setup)[..], &[0x05, 0x01, 0x03, 0x02, 0x01, 0x00]].concat(),
	)
	.await;
	let (code, _) = closed(&conn).await;
	assert_eq!(code, u64::from(SessionCode::KEY_VALUE_FORMATTING.into_inner()));
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_outside_public_are_refused_with_missing_credential() {
	let relay = TestRelay::start(Some("anon")).await;
	let conn = admitted(&relay, "/private").await;
	let (code, reason) = closed(&conn).await;
	assert_eq!(code, u64::from(SessionCode::UNAUTHORIZED.into_inner()));
	assert_eq!(reason, "missing_credential");

	// A credential is never downgraded to anonymous access.
	let conn = admitted(&relay, "/anon?jwt=abc").await;
	let (code, reason) = closed(&conn).await;
	assert_eq!(code, u64::from(SessionCode::UNAUTHORIZED.into_inner()));
	assert_eq!(reason, "invalid_token: no_verifier");
	relay.stop().await;

	// No public prefix at all: everything is refused.
	let closed_relay = TestRelay::start(None).await;
	let conn = admitted(&closed_relay, "/anon").await;
	assert_eq!(closed(&conn).await.1, "missing_credential");
	closed_relay.stop().await;
}
