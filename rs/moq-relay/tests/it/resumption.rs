//! TLS session resumption (docs/tls.md, "Session resumption"): a client that reconnects resumes
//! with the ticket of its earlier session, and the resumed session is admitted like any other.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use moq_relay::client;
use moq_relay::wire::{SessionCode, Setup};
use moq_relay_bench::raw::Pinned;
use rustls::NamedGroup;
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use web_transport_quinn::quinn;

use crate::common::{Target, TestRelay, announce_ok, closed, eventually, send_uni, within};

/// rustls' in-memory session cache, counting the TLS 1.3 tickets it was given.
#[derive(Debug)]
struct CountingTickets {
	cache: ClientSessionMemoryCache,
	tickets: AtomicUsize,
}

impl ClientSessionStore for CountingTickets {
	fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
		self.cache.set_kx_hint(server_name, group)
	}
	fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
		self.cache.kx_hint(server_name)
	}
	fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
		self.cache.set_tls12_session(server_name, value)
	}
	fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
		self.cache.tls12_session(server_name)
	}
	fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
		self.cache.remove_tls12_session(server_name)
	}
	fn insert_tls13_ticket(&self, server_name: ServerName<'static>, value: Tls13ClientSessionValue) {
		self.tickets.fetch_add(1, Ordering::SeqCst);
		self.cache.insert_tls13_ticket(server_name, value)
	}
	fn take_tls13_ticket(&self, server_name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
		self.cache.take_tls13_ticket(server_name)
	}
}

/// One QUIC client (endpoint and TLS configuration kept across its connections), offering
/// moq-lite-05.
struct Returning {
	endpoint: quinn::Endpoint,
	/// The load tool's pinned verifier, which counts certificate checks.
	verifier: Arc<Pinned>,
	tickets: Arc<CountingTickets>,
}

impl Returning {
	fn new(relay: &TestRelay) -> Self {
		let verifier = Arc::new(Pinned::new(relay.fingerprint()).unwrap());
		let tickets = Arc::new(CountingTickets {
			cache: ClientSessionMemoryCache::new(8),
			tickets: AtomicUsize::new(0),
		});
		let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
		let mut tls = rustls::ClientConfig::builder_with_provider(provider)
			.with_protocol_versions(&[&rustls::version::TLS13])
			.unwrap()
			.dangerous()
			.with_custom_certificate_verifier(verifier.clone())
			.with_no_client_auth();
		tls.alpn_protocols = vec![b"moq-lite-05".to_vec()];
		tls.resumption = rustls::client::Resumption::store(tickets.clone());
		let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
		let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
		endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
		Self {
			endpoint,
			verifier,
			tickets,
		}
	}

	/// A connection that has sent its SETUP for `path`.
	async fn setup(&self, relay: &TestRelay, path: &str) -> quinn::Connection {
		let connecting = self.endpoint.connect(relay.addr(), "localhost").unwrap();
		let conn = within("QUIC handshake", connecting).await.unwrap();
		let setup = Setup {
			path: Some(path.to_string()),
			..Setup::default()
		};
		send_uni(&conn, &client::setup_stream(&setup).unwrap()).await;
		conn
	}

	fn certificate_checks(&self) -> usize {
		self.verifier.checks()
	}
}

/// A client's second connection resumes its first (no certificate check), and is served; a
/// resumed connection to a path that needs a token and carries none is refused like a new one.
#[tokio::test]
async fn a_returning_client_resumes_and_is_admitted_like_any_other() {
	let relay = TestRelay::start_with(|config| config.auth.public = Some(vec!["anon".into()])).await;
	let client = Returning::new(&relay);

	let first = client.setup(&relay, "/anon").await;
	announce_ok(&first).await;
	assert_eq!(client.certificate_checks(), 1);
	eventually("a session ticket from the relay", || async {
		client.tickets.tickets.load(Ordering::SeqCst) >= 1
	})
	.await;
	first.close(0u32.into(), b"bye");

	let resumed = client.setup(&relay, "/anon").await;
	announce_ok(&resumed).await;
	assert_eq!(client.certificate_checks(), 1, "the second handshake resumed the first");
	resumed.close(0u32.into(), b"bye");

	let refused = client.setup(&relay, "/room").await;
	assert_eq!(client.certificate_checks(), 1, "the third handshake resumed too");
	assert_eq!(
		closed(&refused).await,
		(
			u64::from(SessionCode::UNAUTHORIZED.into_inner()),
			"missing_credential".to_string()
		)
	);

	client.endpoint.close(0u32.into(), b"done");
	relay.stop().await;
}
