//! Every moq-lite version the relay speaks (lite-03, -04, -05, -06), with the published
//! moq-tokio / moq-net client, over raw QUIC and WebTransport; and bridging: a
//! publisher on any version is read by subscribers on every version, frames intact
//! (`docs/protocol.md`, "Bridging between versions": timestamps synthesised for lite-03/04 publishers, stripped for
//! lite-03/04 subscribers).

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{TestRelay, version, within};
use moq_net::Timestamp;
use moq_relay_bench::publisher::Publisher;
use moq_relay_bench::subscriber::Subscriber;

const VERSIONS: [&str; 4] = ["moq-lite-03", "moq-lite-04", "moq-lite-05", "moq-lite-06"];

/// The versions whose frames carry no timestamp.
fn untimed(version: &str) -> bool {
	matches!(version, "moq-lite-03" | "moq-lite-04")
}
const FRAMES: u64 = 5;
/// A group is written every this many milliseconds, and its frames' timestamps say so (group
/// `n` at `n * GROUP_MS` ms): the published client judges how stale a group is by media time
/// against the track's max age, so timestamps a second apart per group would make a group five
/// groups behind the newest look five seconds late and end it at the frame it waits for.
const GROUP_MS: u64 = 50;

/// A publisher of `anon/<version>` with one track `t`, and the task writing a group every 50 ms
/// whose frames are `"<version>:<group>:<frame>"` with timestamps `group * GROUP_MS + frame` ms.
async fn publisher(relay: &TestRelay, scheme: &str, name: &'static str) -> (Publisher, tokio::task::JoinHandle<()>) {
	let client = relay.client(Some(version(name)));
	let path = format!("anon/{name}");
	let start = Publisher::start(client, relay.url(scheme, ""), &path, "t");
	let publisher = within("publisher established", start).await.unwrap();
	assert_eq!(
		publisher.connection().version().map(|v| v.to_string()).as_deref(),
		Some(name)
	);
	let track = publisher.track().clone();
	let writer = tokio::spawn(async move {
		let mut interval = tokio::time::interval(Duration::from_millis(GROUP_MS));
		for _ in 0..2000 {
			interval.tick().await;
			let mut group = track.append_group().unwrap();
			let sequence = group.sequence;
			for i in 0..FRAMES {
				let at = Timestamp::from_millis(sequence * GROUP_MS + i).unwrap();
				group
					.write_frame(at, Bytes::from(format!("{name}:{sequence}:{i}")))
					.unwrap();
			}
			group.finish().unwrap();
		}
	});
	(publisher, writer)
}

/// Reads two whole groups of `anon/<from>` on a subscriber speaking `to` and checks
/// every frame: payload, order, and the timestamps the pairing can carry.
async fn read_from(session: &mut Subscriber, seen: &mut Vec<String>, from: &str, to: &str) {
	let path = format!("anon/{from}");
	while !seen.contains(&path) {
		let update = within("announcement", session.announcements().next())
			.await
			.expect("announcements end");
		if update.kind.is_active() {
			seen.push(update.prefix.as_str().to_string());
		}
	}
	let mut track = common::subscribe_every_frame(session.consumer(), &path, "t").await;
	// lite-06 carries the track's max age (TRACK_INFO): the publisher's own, or for a lite-03/04
	// publisher, which sends none, how long the relay keeps groups. Never 0, which would make the
	// client end any group behind the newest at the frame it is waiting for.
	if to == "moq-lite-06" {
		let max_age = match untimed(from) {
			true => moq_relay::origin::CachePolicy::default().max_age,
			false => moq_net::track::DEFAULT_MAX_AGE,
		};
		assert_eq!(track.info().max_age, max_age, "{from} -> {to}");
	}
	let mut complete = 0;
	let mut groups = 0;
	while complete < 2 {
		groups += 1;
		assert!(groups <= 50, "{from} -> {to}: no two whole groups in 50");
		let mut group = within("group", track.recv_group()).await.unwrap().expect("track ended");
		let mut frames = Vec::new();
		// A subscriber that falls behind (a loaded machine) may have an older group cut in favour
		// of a newer one (newest first, `docs/protocol.md`): that group is skipped, and every group
		// delivered whole is checked.
		let mut cut = false;
		loop {
			match within("frame", group.read_frame()).await {
				Ok(Some(frame)) => frames.push((String::from_utf8(frame.payload.to_vec()).unwrap(), frame.timestamp)),
				Ok(None) => break,
				Err(_) => {
					cut = true;
					break;
				}
			}
		}
		if cut {
			continue;
		}
		complete += 1;
		assert_eq!(frames.len() as u64, FRAMES, "{from} -> {to}: {frames:?}");
		let sequence: u64 = frames[0].0.split(':').nth(1).unwrap().parse().unwrap();
		let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
		let mut last = 0u128;
		for (i, (payload, timestamp)) in frames.iter().enumerate() {
			assert_eq!(payload, &format!("{from}:{sequence}:{i}"), "{from} -> {to}");
			let ms = timestamp.as_millis();
			match (untimed(from), untimed(to)) {
				// lite-03/04 subscribers get no timestamps; the client stamps its own.
				(_, true) => {}
				// lite-03/04 publishers: the relay stamps arrival time (ms since the UNIX epoch).
				(true, false) => {
					assert!(ms + 60_000 > now_ms && ms <= now_ms, "{from} -> {to}: {ms} vs {now_ms}");
					assert!(ms >= last, "{from} -> {to}: timestamps go back");
					last = ms;
				}
				// lite-05/06 on both sides: the publisher's timestamps, exactly.
				_ => assert_eq!(ms, u128::from(sequence * GROUP_MS) + i as u128, "{from} -> {to}"),
			}
		}
	}
}

async fn every_pairing(scheme: &str) {
	let relay = TestRelay::start(Some("anon")).await;
	let mut publishers = Vec::new();
	for name in VERSIONS {
		publishers.push(publisher(&relay, scheme, name).await);
	}
	for to in VERSIONS {
		let (client, mut session) = relay.subscriber_at(scheme, to).await;
		let mut seen = Vec::new();
		for from in VERSIONS {
			read_from(&mut session, &mut seen, from, to).await;
		}
		session.close().await;
		client.close().await;
	}
	for (publisher, writer) in publishers {
		writer.abort();
		publisher.close().await;
	}
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_quic_every_version_pairing_delivers_intact_frames() {
	every_pairing("moqt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_every_version_pairing_delivers_intact_frames() {
	every_pairing("https").await;
}

/// With no version pinned, the published client (which offers lite-06 first) and the relay
/// agree on lite-06, over both bindings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpinned_client_negotiates_lite06() {
	let relay = TestRelay::start(Some("anon")).await;
	for scheme in ["moqt", "https"] {
		let client = relay.client(None);
		let session = within("established", Subscriber::connect(&client, relay.url(scheme, "anon")))
			.await
			.unwrap();
		assert_eq!(
			session.connection().version().map(|v| v.to_string()).as_deref(),
			Some("moq-lite-06"),
			"{scheme}"
		);
		session.close().await;
		client.close().await;
	}
	relay.stop().await;
}

/// A first viewer starts at the publisher's newest group, as every later viewer does: the
/// relay's upstream subscription must not ask a lite-05/06 publisher for the groups it still
/// keeps from before anyone watched (the published client resolves a subscription's start from
/// its max age).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_viewer_starts_at_the_newest_group() {
	let relay = TestRelay::start(Some("anon")).await;
	for name in ["moq-lite-05", "moq-lite-06"] {
		let (publisher, writer) = publisher(&relay, "moqt", name).await;
		let track = publisher.track().clone();
		// A second of groups nobody watches (the publisher keeps them: its max age is 5 s).
		let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
		while track.latest().is_none_or(|latest| latest < 20) {
			assert!(
				tokio::time::Instant::now() < deadline,
				"the publisher wrote no 20 groups"
			);
			tokio::time::sleep(Duration::from_millis(GROUP_MS)).await;
		}
		let (client, mut session) = relay.subscriber_at("moqt", name).await;
		let path = format!("anon/{name}");
		within("announced", session.announced(&path, true)).await.unwrap();
		let newest = track.latest().unwrap();
		let mut subscription = common::subscribe_every_frame(session.consumer(), &path, "t").await;
		// Neither the first group nor any after it is one from before the viewer came (the
		// relay's later raise of its Max Age must not bring them back either).
		let mut received = Vec::new();
		while received.len() < 5 {
			let group = within("group", subscription.recv_group())
				.await
				.unwrap()
				.expect("track ended");
			received.push(group.sequence);
		}
		assert!(
			received.iter().all(|sequence| sequence + 2 >= newest),
			"{name}: the first viewer got groups {received:?} with {newest} published"
		);
		writer.abort();
		session.close().await;
		client.close().await;
		publisher.close().await;
	}
	relay.stop().await;
}

/// On shutdown the relay tells a lite-04 session on a Goaway stream (an empty GOAWAY: no
/// redirect); lite-03 has no Goaway stream, so a lite-03 session gets no stream at all and is
/// closed when the drain ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_says_goaway_only_where_the_version_has_it() {
	use moq_relay::client;
	use moq_relay::wire::{BidiType, Goaway};

	let mut relay = TestRelay::start(Some("anon")).await;
	let mut sessions = Vec::new();
	for alpn in ["moq-lite-04", "moq-lite-03"] {
		let conn = common::raw_connect(&relay, alpn).await;
		// Served: the relay asks the session (which may publish under `anon`) for its broadcasts.
		let (_send, mut recv) = within("announce request", conn.accept_bi()).await.unwrap();
		let mut buf = Vec::new();
		let ty: BidiType = client::read(&mut recv, &mut buf, "stream type").await.unwrap();
		assert_eq!(ty, BidiType::Announce, "{alpn}");
		sessions.push((alpn, conn, recv));
	}
	let stopping = relay.begin_stop();
	for (alpn, conn, _announce) in &sessions {
		match *alpn {
			"moq-lite-04" => {
				let (_send, mut recv) = within("goaway stream", conn.accept_bi()).await.unwrap();
				let mut buf = Vec::new();
				let ty: BidiType = client::read(&mut recv, &mut buf, "stream type").await.unwrap();
				assert_eq!(ty, BidiType::Goaway);
				let goaway: Goaway = client::read(&mut recv, &mut buf, "GOAWAY").await.unwrap();
				assert_eq!(goaway.uri, "");
			}
			_ => {
				let next = within("close at the drain's end", conn.accept_bi()).await;
				assert!(next.is_err(), "{alpn}: the relay opened a stream on shutdown");
			}
		}
	}
	within("relay shutdown", stopping).await.unwrap();
}

/// A FETCH of a group the relay never held is asked of its publisher (`docs/protocol.md`,
/// "Fetching what the relay does not hold"), as the published relay does: the groups a lite-06
/// (or lite-05) publisher wrote before anybody watched never reached the relay, yet a lite-05 or
/// lite-06 subscriber that fetches one gets it whole, and at lite-06 from frame 2 (the relay asks
/// for the whole group and sends the frames asked for). A lite-04 publisher has no FETCH: such a
/// fetch is refused, and the subscription goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_the_relay_never_held_is_fetched_from_its_publisher() {
	let relay = TestRelay::start(Some("anon")).await;
	let (old, old_writer) = publisher(&relay, "moqt", "moq-lite-04").await;
	let (earlier, earlier_writer) = publisher(&relay, "moqt", "moq-lite-05").await;
	let (current, writer) = publisher(&relay, "moqt", "moq-lite-06").await;
	// Groups nobody watches: the relay subscribes to no track before its first viewer.
	for track in [current.track(), earlier.track(), old.track()] {
		let written = || async { track.latest().is_some_and(|latest| latest >= 10) };
		common::eventually("ten groups written", written).await;
	}
	let mut pasts = std::collections::HashMap::new();
	let cases = [
		("moq-lite-06", "moq-lite-06", 0),
		("moq-lite-06", "moq-lite-05", 0),
		("moq-lite-06", "moq-lite-06", 2),
		("moq-lite-05", "moq-lite-06", 0),
	];
	for (from, name, frame_start) in cases {
		let live = common::Live::start(&relay, name, &format!("anon/{from}")).await;
		// Five groups before the track's first viewer's first: the publisher keeps them (five
		// seconds of media), the relay, which started at the newest group, never had them.
		let past = *pasts.entry(from).or_insert(live.first - 5);
		let options = moq_net::group::Fetch::default().with_frame_start(frame_start);
		let expected: Vec<String> = (frame_start..FRAMES).map(|i| format!("{from}:{past}:{i}")).collect();
		assert_eq!(
			live.fetch(past, options).await,
			expected,
			"{from} to {name} from frame {frame_start}"
		);
		live.close().await;
	}
	let mut live = common::Live::start(&relay, "moq-lite-06", "anon/moq-lite-04").await;
	live.refused(live.first - 5, "a lite-04 publisher's group").await;
	live.close().await;
	for writer in [writer, earlier_writer, old_writer] {
		writer.abort();
	}
	for publisher in [current, earlier, old] {
		publisher.close().await;
	}
	relay.stop().await;
}

/// moq-lite FETCH with the published client (`docs/protocol.md`, "Fetch stream"): a subscriber at
/// lite-05 and lite-06 that asks its track for a group from before its subscription gets the
/// group whole; at lite-06, asked from frame 2 (`frame_start`, as the client fills a group whose
/// head it holds), it gets frames 2 on and nothing before them, since the response carries no
/// frame numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_client_fetches_past_groups_and_their_tails() {
	let relay = TestRelay::start(Some("anon")).await;
	let (publisher, writer) = publisher(&relay, "moqt", "moq-lite-05").await;
	let holder = common::Holder::start(&relay, "anon/moq-lite-05", 4).await;
	for (name, frame_start) in [("moq-lite-05", 0), ("moq-lite-06", 0), ("moq-lite-06", 2)] {
		let live = common::Live::start(&relay, name, "anon/moq-lite-05").await;
		let past = live.first - 2;
		let options = moq_net::group::Fetch::default().with_frame_start(frame_start);
		let mut fetched = within("the fetched group", live.track.fetch_group(past, options))
			.await
			.unwrap_or_else(|err| panic!("{name}: fetching group {past}: {err}"));
		// Each frame with its timestamp: the first one sent carries its own, not a delta from a
		// frame that was not sent.
		let mut frames = Vec::new();
		while let Some(frame) = within("a frame", fetched.read_frame()).await.unwrap() {
			let payload = String::from_utf8(frame.payload.to_vec()).unwrap();
			frames.push((frame.timestamp.as_millis(), payload));
		}
		let expected: Vec<(u128, String)> = (frame_start..FRAMES)
			.map(|i| {
				let at = u128::from(past * GROUP_MS + i);
				(at, format!("moq-lite-05:{past}:{i}"))
			})
			.collect();
		assert_eq!(frames, expected, "{name} from frame {frame_start}");
		live.close().await;
	}
	writer.abort();
	holder.close().await;
	publisher.close().await;
	relay.stop().await;
}

/// A publisher's datagrams reach the track's subscribers as datagrams (`docs/protocol.md`,
/// "Datagrams"), as the published relay passes them on: the published client publishing at
/// lite-05 and lite-06 with `append_datagram`, and subscribing at the other version with
/// `recv_datagram`, gets each datagram whole (its sequence, payload and timestamp) beside the
/// track's groups; the relay counts them in `moq_relay_datagrams_received_total` and
/// `moq_relay_datagrams_sent_total`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_reach_subscribers_at_lite05_and_lite06() {
	let relay = TestRelay::start(Some("anon")).await;
	for (from, to) in [("moq-lite-05", "moq-lite-06"), ("moq-lite-06", "moq-lite-05")] {
		let (publisher, writer) = publisher(&relay, "moqt", from).await;
		let mut live = common::Live::start(&relay, to, &format!("anon/{from}")).await;
		let mut track = publisher.track().clone();
		let (received, n) = live
			.until_a_datagram(&mut track, &format!("a datagram {from} → {to}"))
			.await;
		let at = u128::from(common::DATAGRAM_MS + n);
		assert_eq!(received.timestamp.as_millis(), at, "{from} → {to}");
		// A group and a datagram share the sequence numbers: the datagram's is above the first
		// live group's.
		assert!(received.sequence > live.first, "{from} → {to}: {}", received.sequence);
		writer.abort();
		live.close().await;
		publisher.close().await;
	}
	let metrics = common::metrics(&relay).await;
	for series in ["moq_relay_datagrams_received_total", "moq_relay_datagrams_sent_total"] {
		assert!(metrics.get(series).copied().unwrap_or(0) >= 2, "{series}: {metrics:?}");
	}
	relay.stop().await;
}
