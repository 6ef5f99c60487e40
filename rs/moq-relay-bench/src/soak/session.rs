//! A soak subscriber session: dial, subscribe to one broadcast's track, read every group until
//! asked to leave (or until the session ends on its own, an error), then account for what arrived
//! and close.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use url::Url;

use super::errors::{ErrorKind, Errors};
use super::groups::{Accounting, GroupLog, account};
use super::histogram::Histogram;
use crate::{ClientFactory, Subscriber, decode_frame, now_ns, subscriber};

/// How long a session may take to be admitted, and then to subscribe.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a leaving session's close, and then its endpoint's, may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What arrived during the current sample interval, over all sessions.
#[derive(Debug, Default)]
pub struct Interval {
	/// Send-to-receive latency of live frames (sent after the receiving session subscribed).
	pub latency: Histogram,
	/// Frames received (live and catch-up).
	pub frames: u64,
	/// Payload bytes received.
	pub bytes: u64,
}

/// Counters every session updates.
#[derive(Debug, Default)]
pub struct Live {
	/// The current sample interval.
	pub interval: Mutex<Interval>,
	/// From dial to a session's first frame, over the whole run.
	pub join_time: Mutex<Histogram>,
	/// Sessions subscribed now (a leaving session stops counting when it is asked to leave).
	pub open: AtomicU64,
	/// Sessions that subscribed, in all.
	pub joined: AtomicU64,
	/// Subscribed sessions that have ended (asked to leave, or closed on their own), in all.
	pub ended: AtomicU64,
	/// Frames received that were sent before their session subscribed (the group in progress,
	/// which a new subscriber gets from its start); not in the latency.
	pub catchup_frames: AtomicU64,
	/// Errors.
	pub errors: Arc<Errors>,
}

/// Where sessions get their client: one of their own (closed when they end) or a shared pool.
pub enum Clients {
	/// Each session makes one (its own UDP socket).
	PerSession(Arc<ClientFactory>),
	/// Sessions share these round-robin by id.
	Pool(Vec<moq_tokio::Client>),
}

/// What every session shares.
pub struct Context {
	/// The URL subscriber sessions dial.
	pub url: Url,
	/// Broadcast names, by index.
	pub names: Vec<String>,
	/// Their publishers' group logs, by index.
	pub logs: Vec<Arc<GroupLog>>,
	/// The track every broadcast carries.
	pub track: &'static str,
	/// The subscribers' preferences (their max age).
	pub subscription: moq_net::track::Subscription,
	/// Bytes every frame has.
	pub frame_size: usize,
	/// How long after a group is finished it may still arrive, ns.
	pub grace_ns: u64,
	/// Clients.
	pub clients: Clients,
	/// Sessions being set up at once.
	pub setup_limit: Arc<Semaphore>,
	/// Counters.
	pub live: Arc<Live>,
	/// Told each session's id once it has subscribed.
	pub subscribed: mpsc::UnboundedSender<u64>,
}

/// How a session ended.
#[derive(Debug, Clone)]
pub struct SessionEnd {
	/// Its id.
	pub id: u64,
	/// Whether it subscribed.
	pub subscribed: bool,
	/// Whether it ended because it was asked to (or never subscribed because it was asked to
	/// leave first), not on its own or by failing.
	pub planned: bool,
	/// What it should have received and did (zero when it never subscribed).
	pub accounting: Accounting,
}

/// What one session has received.
struct Received {
	/// Frames per group number.
	groups: HashMap<u64, u64>,
	/// When it dialed and when it subscribed, ns since the epoch.
	dialed_ns: u64,
	subscribed_ns: u64,
	/// Whether a frame has arrived yet.
	any: bool,
	/// The first group that ended in an error, and the error.
	group_error: Option<String>,
}

/// Runs session `id` on broadcast `broadcast` until `leave` fires (or its sender is dropped).
pub async fn run(cx: Arc<Context>, id: u64, broadcast: usize, mut leave: oneshot::Receiver<()>) -> SessionEnd {
	let mut end = SessionEnd {
		id,
		subscribed: false,
		planned: true,
		accounting: Accounting::default(),
	};
	let errors = cx.live.errors.clone();
	let (client, owned) = match &cx.clients {
		Clients::PerSession(factory) => match factory.subscriber_client() {
			Ok(client) => (client, true),
			Err(err) => {
				errors.record(ErrorKind::ConnectFailed, 1, || format!("session {id}: client: {err:#}"));
				end.planned = false;
				return end;
			}
		},
		Clients::Pool(pool) => (pool[id as usize % pool.len()].clone(), false),
	};
	let dialed_ns = now_ns();
	let (session, mut track) = tokio::select! {
		setup = setup(&cx, &client, broadcast) => match setup {
			Ok(pair) => pair,
			Err((kind, err)) => {
				errors.record(kind, 1, || format!("session {id}: {err:#}"));
				end.planned = false;
				close_client(&errors, id, client, owned).await;
				return end;
			}
		},
		_ = &mut leave => {
			close_client(&errors, id, client, owned).await;
			return end;
		}
	};
	end.subscribed = true;
	let subscribed_ns = now_ns();
	cx.live.open.fetch_add(1, Ordering::Relaxed);
	cx.live.joined.fetch_add(1, Ordering::Relaxed);
	let _ = cx.subscribed.send(id);

	let received = Arc::new(Mutex::new(Received {
		groups: HashMap::new(),
		dialed_ns,
		subscribed_ns,
		any: false,
		group_error: None,
	}));
	let mut groups = JoinSet::new();
	let ended_on_its_own = loop {
		tokio::select! {
			_ = &mut leave => break None,
			group = track.recv_group() => match group {
				Ok(Some(group)) => {
					groups.spawn(read_group(group, cx.clone(), received.clone()));
				}
				Ok(None) => break Some("the track ended".to_string()),
				Err(err) => break Some(format!("track: {err}")),
			},
			closed = session.connection().closed() => {
				break Some(format!("the session closed: {}", closed.err().map_or("without error".into(), |e| e.to_string())));
			}
			Some(_) = groups.join_next(), if !groups.is_empty() => {}
		}
	};
	let left_ns = now_ns();
	groups.abort_all();
	cx.live.open.fetch_sub(1, Ordering::Relaxed);
	cx.live.ended.fetch_add(1, Ordering::Relaxed);
	if let Some(reason) = &ended_on_its_own {
		end.planned = false;
		errors.record(ErrorKind::UnexpectedClose, 1, || format!("session {id}: {reason}"));
	}

	let log = cx.logs[broadcast].snapshot();
	end.accounting = account(
		&log,
		&received.lock().unwrap().groups,
		subscribed_ns,
		left_ns,
		cx.grace_ns,
	);
	let acc = end.accounting;
	let name = &cx.names[broadcast];
	let group_error = received.lock().unwrap().group_error.take();
	let cause = group_error.map_or(String::new(), |err| format!(" (first group error: {err})"));
	errors.record(ErrorKind::MissedGroup, acc.missed_groups, || {
		format!(
			"session {id} on {name}: {} of {} expected groups had no frame{cause}",
			acc.missed_groups, acc.expected_groups
		)
	});
	errors.record(ErrorKind::IncompleteGroup, acc.incomplete_groups, || {
		format!(
			"session {id} on {name}: {} of {} expected groups arrived in part{cause}",
			acc.incomplete_groups, acc.expected_groups
		)
	});

	drop(track);
	match tokio::time::timeout(CLOSE_TIMEOUT, session.connection().clone().close()).await {
		Err(_) => errors.record(ErrorKind::CloseFailed, 1, || {
			format!("session {id}: close took over 5 s")
		}),
		// A session that already ended on its own (counted above) has nothing left to close cleanly.
		Ok(Err(err)) if ended_on_its_own.is_none() => {
			errors.record(ErrorKind::CloseFailed, 1, || format!("session {id}: close: {err}"))
		}
		Ok(_) => {}
	}
	drop(session);
	close_client(&errors, id, client, owned).await;
	end
}

/// Dials and waits for the broadcast's announcement (admission), then subscribes to its track.
async fn setup(
	cx: &Context,
	client: &moq_tokio::Client,
	broadcast: usize,
) -> Result<(Subscriber, moq_net::track::Subscriber), (ErrorKind, anyhow::Error)> {
	let name = &cx.names[broadcast];
	let session = {
		let _permit = cx.setup_limit.acquire().await.expect("the semaphore is never closed");
		let admitted = async {
			let mut session = Subscriber::connect(client, cx.url.clone()).await?;
			session.announced(name, true).await?;
			anyhow::Ok(session)
		};
		match tokio::time::timeout(SETUP_TIMEOUT, admitted).await {
			Ok(Ok(session)) => session,
			Ok(Err(err)) => return Err((ErrorKind::ConnectFailed, err)),
			Err(_) => return Err((ErrorKind::ConnectFailed, anyhow::anyhow!("not admitted within 30 s"))),
		}
	};
	let subscribe = subscriber::track_with(session.consumer(), name, cx.track, Some(cx.subscription.clone()));
	match tokio::time::timeout(SETUP_TIMEOUT, subscribe).await {
		Ok(Ok(track)) => Ok((session, track)),
		Ok(Err(err)) => Err((ErrorKind::SubscribeFailed, err)),
		Err(_) => Err((
			ErrorKind::SubscribeFailed,
			anyhow::anyhow!("no subscription within 30 s"),
		)),
	}
}

/// Closes a session's own client, bounded; a pool's clients are closed at the end of the run.
async fn close_client(errors: &Errors, id: u64, client: moq_tokio::Client, owned: bool) {
	if owned && tokio::time::timeout(CLOSE_TIMEOUT, client.close()).await.is_err() {
		errors.record(ErrorKind::CloseFailed, 1, || {
			format!("session {id}: endpoint close took over 5 s")
		});
	}
}

/// Reads one group: every frame's latency into the interval, its count into the session's record.
async fn read_group(mut group: moq_net::group::Consumer, cx: Arc<Context>, received: Arc<Mutex<Received>>) {
	// A group reset by the relay (a slow subscriber's oldest) or given up on by this subscriber
	// (older than its max age) ends the loop; the accounting counts the frames that never came.
	loop {
		let frame = match group.read_frame().await {
			Ok(Some(frame)) => frame,
			Ok(None) => break,
			Err(err) => {
				let sequence = group.sequence;
				received
					.lock()
					.unwrap()
					.group_error
					.get_or_insert_with(|| format!("group sequence {sequence}: {err}"));
				break;
			}
		};
		let now = now_ns();
		let Some((sent, number, _)) = decode_frame(&frame.payload) else {
			cx.live.errors.record(ErrorKind::CorruptFrame, 1, || {
				format!("{} bytes, no header", frame.payload.len())
			});
			continue;
		};
		if frame.payload.len() != cx.frame_size || sent > now + 1_000_000_000 {
			cx.live.errors.record(ErrorKind::CorruptFrame, 1, || {
				format!(
					"{} bytes, sent {} ns from now",
					frame.payload.len(),
					sent as i128 - now as i128
				)
			});
			continue;
		}
		let (first, live) = {
			let mut received = received.lock().unwrap();
			*received.groups.entry(number).or_default() += 1;
			let first = !received.any;
			received.any = true;
			(first.then_some(received.dialed_ns), sent >= received.subscribed_ns)
		};
		if let Some(dialed) = first {
			cx.live.join_time.lock().unwrap().record(now.saturating_sub(dialed));
		}
		let mut interval = cx.live.interval.lock().unwrap();
		interval.frames += 1;
		interval.bytes += frame.payload.len() as u64;
		if live {
			interval.latency.record(now.saturating_sub(sent));
		} else {
			drop(interval);
			cx.live.catchup_frames.fetch_add(1, Ordering::Relaxed);
		}
	}
}
