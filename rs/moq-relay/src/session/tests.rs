//! Whole sessions over [`crate::transport::mem`] under tokio's paused time: what a session does at
//! its time limits and with hostile input, checked without a socket and without waiting for real
//! (a time-out that must not have fired yet is checked with a shorter virtual time-out).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, KeySource, KeyStore, Path};
use tokio::sync::watch;

use super::{Context, Reader, Writer, run};
use crate::auth::{Auth, Public};
use crate::limits::{Connections, Limits};
use crate::metrics::Metrics;
use crate::origin::Origin;
use crate::transport::Session as _;
use crate::transport::mem::{MemSession, pair};
use crate::wire::{
	Announce, AnnounceOk, AnnounceRequest, AnnounceStatus, BidiType, SessionCode, Setup, StreamCode, Subscribe,
	SubscribeOptions, UniType, VarInt, Version,
};

const V: Version = Version::Lite05;

/// A relay's shared state with `auth` and default limits.
fn context(auth: Auth) -> (Arc<Context>, watch::Sender<bool>) {
	context_with(auth, Limits::default())
}

/// A relay's shared state with `auth` and `limits`.
fn context_with(auth: Auth, limits: Limits) -> (Arc<Context>, watch::Sender<bool>) {
	let metrics = Arc::new(Metrics::default());
	let (down, shutdown) = watch::channel(false);
	let ctx = Arc::new(Context {
		origin: Arc::new(Origin::default()),
		auth,
		metrics,
		hop_id: VarInt::from_u32(7),
		shutdown,
		throttle: Arc::new(crate::limits::AuthThrottle::new(&limits)),
		limits,
	});
	(ctx, down)
}

/// The relay's side of a session over `server`, run to its end in a task.
fn serve(server: MemSession, ctx: Arc<Context>) -> tokio::task::JoinHandle<()> {
	tokio::spawn(async move {
		let connections = Connections::new(ctx.limits.clone(), ctx.metrics.clone());
		let mut ticket = connections.open(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
		let _ = run(server, V, None, None, ctx, &mut ticket, Instant::now()).await;
	})
}

/// Sends a SETUP with `path` on a uni stream.
async fn setup(client: &MemSession, path: &str) {
	let mut writer = Writer::new(client.open_uni().await.unwrap());
	writer.encode(&UniType::Setup, V).await.unwrap();
	let message = Setup {
		path: Some(path.to_string()),
		..Setup::default()
	};
	writer.encode(&message, V).await.unwrap();
	writer.finish().unwrap();
}

/// ANNOUNCE_REQUEST for everything, answered by an ANNOUNCE_OK: the session is served.
async fn served(client: &MemSession) {
	let (send, recv) = client.open_bi().await.unwrap();
	let mut writer = Writer::new(send);
	writer.encode(&BidiType::Announce, V).await.unwrap();
	let request = AnnounceRequest {
		prefix: String::new(),
		exclude_hop: VarInt::ZERO,
	};
	writer.encode(&request, V).await.unwrap();
	let ok: AnnounceOk = Reader::new(recv).expect(V).await.unwrap();
	assert_eq!(ok.hop_id, VarInt::from_u32(7));
	// The writer is dropped here: the relay sees the request stream reset, as a client leaving.
	drop(writer);
}

/// Whether `future` is still pending after `after` of virtual time.
async fn pending_after<T>(after: Duration, future: impl std::future::Future<Output = T>) -> bool {
	tokio::time::timeout(after, future).await.is_err()
}

fn anon() -> Auth {
	Auth::new(Public::both(Path::new("anon").unwrap()), None)
}

#[tokio::test(start_paused = true)]
async fn a_session_is_closed_the_moment_its_token_expires() {
	let dir = std::env::temp_dir().join(format!("moq-relay-session-expiry-{}", std::process::id()));
	std::fs::create_dir_all(&dir).unwrap();
	let key = Key::generate(Algorithm::HS256, Some(KeyId::new("expiry").unwrap())).unwrap();
	key.to_file(dir.join("root.jwk"), KeyFormat::Base64Url).unwrap();
	let keys = KeyStore::new(vec![KeySource::File(dir.join("root.jwk"))]).unwrap();
	let (ctx, _down) = context(Auth::new(Public::default(), Some(keys)));
	let claims = Claims::new(Path::new("room").unwrap())
		.with_subscribe(Path::root())
		.with_expires(moq_token::unix_now() + 30);
	let token = key.sign(&claims).unwrap();

	let (client, server) = pair();
	let relay = serve(server, ctx.clone());
	setup(&client, &format!("/room?jwt={token}")).await;
	served(&client).await;
	// Served until the expiry (the token's exp is in whole seconds: up to 29 s from now)...
	assert!(pending_after(Duration::from_secs(28), client.closed()).await);
	served(&client).await;
	// ...and closed then, with the code and reason a client reads.
	client.closed().await;
	assert_eq!(
		client.close_reason(),
		Some((SessionCode::UNAUTHORIZED.into_inner(), "token_expired".to_string()))
	);
	relay.await.unwrap();
	let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_sends_setup_is_closed_at_the_setup_timeout() {
	let (ctx, _down) = context(anon());
	let timeout = ctx.limits.setup_timeout;
	let (client, server) = pair();
	let relay = serve(server, ctx.clone());
	assert!(pending_after(timeout - Duration::from_millis(10), client.closed()).await);
	client.closed().await;
	let (code, reason) = client.close_reason().unwrap();
	assert_eq!(code, SessionCode::TIMEOUT.into_inner());
	assert!(reason.starts_with("setup_timeout: "), "{reason}");
	relay.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_second_setup_closes_the_session_with_protocol_violation() {
	let (ctx, _down) = context(anon());
	let (client, server) = pair();
	let relay = serve(server, ctx);
	setup(&client, "/anon").await;
	served(&client).await;
	setup(&client, "/anon").await;
	client.closed().await;
	let (code, reason) = client.close_reason().unwrap();
	assert_eq!(code, SessionCode::PROTOCOL_VIOLATION.into_inner());
	assert!(reason.contains("SETUP"), "{reason}");
	relay.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_control_message_over_the_limit_closes_the_session() {
	let (ctx, _down) = context(anon());
	let limit = ctx.limits.max_message;
	let (client, server) = pair();
	let relay = serve(server, ctx);
	setup(&client, "/anon").await;
	served(&client).await;
	let (send, _recv) = client.open_bi().await.unwrap();
	let mut writer = Writer::new(send);
	writer.encode(&BidiType::Subscribe, V).await.unwrap();
	// A Message Length of 40 MiB, then more than the limit of it.
	let mut length = bytes::BytesMut::new();
	VarInt::from_u32(40 << 20).encode(&mut length);
	writer.write_all(&length).await.unwrap();
	let _ = writer.write_all(&vec![0u8; limit + 1]).await;
	client.closed().await;
	let (code, reason) = client.close_reason().unwrap();
	assert_eq!(code, SessionCode::PROTOCOL_VIOLATION.into_inner());
	assert!(reason.contains("max_message"), "{reason}");
	relay.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn paths_outside_the_public_prefix_are_refused_and_never_downgraded() {
	let (ctx, _down) = context(anon());
	for (path, reason) in [
		("/private", "missing_credential"),
		// A credential the relay cannot verify is refused, never treated as anonymous.
		("/anon?jwt=abc", "invalid_token: no_verifier"),
	] {
		let (client, server) = pair();
		let relay = serve(server, ctx.clone());
		setup(&client, path).await;
		client.closed().await;
		assert_eq!(
			client.close_reason(),
			Some((SessionCode::UNAUTHORIZED.into_inner(), reason.to_string())),
			"{path}"
		);
		relay.await.unwrap();
	}
}

/// Answers the relay's ANNOUNCE_REQUEST (it asks every session that may publish) with `paths`,
/// announced active one after the other.
async fn announce(client: &MemSession, paths: &[String]) {
	let (send, recv) = client.accept_bi().await.unwrap();
	let mut reader = Reader::new(recv);
	assert_eq!(reader.expect::<BidiType>(V).await.unwrap(), BidiType::Announce);
	let _request: AnnounceRequest = reader.expect(V).await.unwrap();
	let mut writer = Writer::new(send);
	let ok = AnnounceOk {
		hop_id: VarInt::from_u32(99),
		active_count: VarInt::ZERO,
	};
	writer.encode(&ok, V).await.unwrap();
	for path in paths {
		let announce = Announce {
			status: AnnounceStatus::Active,
			suffix: path.clone(),
			hops: Vec::new(),
		};
		if writer.encode(&announce, V).await.is_err() {
			return;
		}
	}
	// The stream stays open, as a publisher's does.
	std::mem::forget(writer);
}

#[tokio::test(start_paused = true)]
async fn announcing_more_broadcasts_than_the_limit_closes_only_that_session() {
	let limits = Limits {
		max_broadcasts: 3,
		..Limits::default()
	};
	let (ctx, _down) = context_with(anon(), limits);
	let (bystander, bystander_server) = pair();
	let bystander_relay = serve(bystander_server, ctx.clone());
	setup(&bystander, "/anon").await;
	served(&bystander).await;

	let (client, server) = pair();
	let relay = serve(server, ctx.clone());
	setup(&client, "/anon").await;
	let three: Vec<String> = (0..3).map(|i| format!("cam{i}")).collect();
	announce(&client, &three).await;
	// Within the limit: served.
	served(&client).await;
	assert!(client.close_reason().is_none());

	let (client, server) = pair();
	let over = serve(server, ctx.clone());
	setup(&client, "/anon").await;
	let four: Vec<String> = (0..4).map(|i| format!("mic{i}")).collect();
	announce(&client, &four).await;
	client.closed().await;
	let (code, reason) = client.close_reason().unwrap();
	assert_eq!(code, SessionCode::INTERNAL.into_inner());
	assert!(reason.starts_with("too_many_broadcasts"), "{reason}");
	over.await.unwrap();

	served(&bystander).await;
	drop((relay, bystander_relay));
}

#[tokio::test(start_paused = true)]
async fn announcing_a_path_over_the_limit_closes_the_session() {
	let (ctx, _down) = context(anon());
	let (client, server) = pair();
	let relay = serve(server, ctx.clone());
	setup(&client, "/anon").await;
	announce(&client, &["x".repeat(ctx.limits.max_path + 1)]).await;
	client.closed().await;
	let (code, reason) = client.close_reason().unwrap();
	assert_eq!(code, SessionCode::INTERNAL.into_inner());
	assert!(reason.starts_with("path_too_long"), "{reason}");
	relay.await.unwrap();
}

/// Lets every task run until all wait (virtual time only moves once they do).
async fn settle() {
	tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_client_cycling_track_names_cannot_flood_the_publisher() {
	use std::sync::atomic::{AtomicUsize, Ordering};

	use crate::transport::{RecvStream as _, TransportError};

	let limits = Limits {
		subscribe_rate: 10,
		..Limits::default()
	};
	let (ctx, _down) = context_with(anon(), limits);
	// The burst: ten times the rate.
	let burst = 10 * ctx.limits.subscribe_rate as usize;
	let (publisher, publisher_server) = pair();
	// The publisher lets the relay open as many streams as it likes.
	publisher.allow_streams(10 * burst as u32);
	let _publishing = serve(publisher_server, ctx.clone());
	setup(&publisher, "/anon").await;
	announce(&publisher, &["clock".to_string()]).await;
	// Every upstream SUBSCRIBE the relay opens to the publisher, held unanswered.
	let upstream = Arc::new(AtomicUsize::new(0));
	let _counter = tokio::spawn({
		let (publisher, upstream) = (publisher.clone(), upstream.clone());
		async move {
			let mut held = Vec::new();
			while let Ok((send, recv)) = publisher.accept_bi().await {
				let mut reader = Reader::new(recv);
				if let Ok(Some(BidiType::Subscribe)) = reader.decode::<BidiType>(V).await {
					upstream.fetch_add(1, Ordering::Relaxed);
				}
				held.push((send, reader));
			}
		}
	});

	let (client, client_server) = pair();
	let _subscribing = serve(client_server, ctx.clone());
	setup(&client, "/anon").await;
	served(&client).await;
	settle().await;
	let mut streams = Vec::new();
	for i in 0..burst + 50 {
		let (send, recv) = client.open_bi().await.unwrap();
		let mut writer = Writer::new(send);
		writer.encode(&BidiType::Subscribe, V).await.unwrap();
		let request = Subscribe {
			id: VarInt::from_u32(i as u32),
			broadcast: "clock".into(),
			track: format!("bogus-{i}"),
			options: SubscribeOptions::default(),
		};
		writer.encode(&request, V).await.unwrap();
		streams.push((writer, recv));
	}
	settle().await;
	let mut refused = 0;
	for (_writer, mut recv) in streams {
		if let Ok(Err(TransportError::Reset(code))) =
			tokio::time::timeout(Duration::from_millis(1), recv.read_chunk(16)).await
		{
			assert_eq!(code, StreamCode::CANCEL.into_inner());
			refused += 1;
		}
	}
	assert_eq!(refused, 50, "past the burst");
	assert_eq!(
		upstream.load(Ordering::Relaxed),
		burst,
		"one upstream SUBSCRIBE per admitted one"
	);
}

#[tokio::test(start_paused = true)]
async fn an_address_that_keeps_failing_is_cooled_down_even_where_it_needs_no_credential() {
	let limits = Limits {
		auth_failures: 3,
		auth_cooldown: Duration::from_secs(30),
		..Limits::default()
	};
	let (ctx, _down) = context_with(anon(), limits);
	let refused = |path: &'static str| {
		let ctx = ctx.clone();
		async move {
			let (client, server) = pair();
			let relay = serve(server, ctx);
			setup(&client, path).await;
			client.closed().await;
			relay.await.unwrap();
			client.close_reason().map(|(_, reason)| reason)
		}
	};
	for _ in 0..3 {
		assert_eq!(
			refused("/anon?jwt=forged").await.as_deref(),
			Some("invalid_token: no_verifier")
		);
	}
	// The cool-down: even the public prefix is refused, before any verifier is asked.
	assert_eq!(refused("/anon").await.as_deref(), Some("too_many_attempts"));
	tokio::time::sleep(Duration::from_secs(30)).await;
	let (client, server) = pair();
	let _relay = serve(server, ctx.clone());
	setup(&client, "/anon").await;
	served(&client).await;
}
