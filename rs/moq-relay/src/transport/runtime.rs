//! The quinn runtime of the relay's endpoints: tokio's, except that the endpoint's receive path
//! keeps the thread for longer turns when it falls behind.
//!
//! One task of quinn's, the endpoint driver, reads every datagram the relay's UDP socket receives
//! and hands each to its connection's task. It reads for at most 50 µs per turn, then yields to the
//! back of tokio's run queue. When the relay's core is saturated (hundreds of viewers' connection
//! tasks, each sending on every turn), a round of that queue takes tens of milliseconds, so the
//! endpoint driver reads 50 µs worth of datagrams per round while viewers' acknowledgements
//! keep arriving: the kernel's socket queue grows, and a publisher's packets wait in it behind
//! hundreds of acknowledgements for many rounds. Tokio has no task priorities; the relay lost
//! whole groups for every viewer that way (`docs/performance.md`, "Target 4: the receive path's
//! turn").
//!
//! [`ReceiveFirst`] is quinn's tokio runtime with one change: the endpoint driver, the first task
//! an endpoint spawns, is polled again at once while it asks to be (it wakes itself when it
//! stopped at its bound with datagrams left), for up to [`TURN`] and [`TURN_BYTES`] of datagrams
//! per turn. A driver that ran out of datagrams returns as before, so an endpoint that keeps up is
//! polled exactly as under quinn's own runtime; nothing crosses threads. A turn that reaches
//! either bound ends as quinn's would: the driver goes to the back of the run queue, so a flood of
//! datagrams can neither keep the thread nor queue more than [`TURN_BYTES`] a turn for the
//! connections' tasks (`tests/it/hardening.rs`, `datagrams_nobody_reads_cost_a_bounded_buffer`).

use std::future::Future;
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use web_transport_quinn::quinn;

/// The longest turn the endpoint driver takes on a worker thread while it has datagrams left:
/// eighty of quinn's own bounds (50 µs). Measured under overload (`docs/performance.md`, "Target 4:
/// the receive path's turn"): with turns of 1 ms, in each of nine runs some group's first frame
/// reached at most a quarter of the viewers within a second; with 2, 4 and 8 ms every group's
/// reached at least 99.7 % of them in every run. 4 ms leaves room on both sides.
pub const TURN: Duration = Duration::from_millis(4);

/// The most datagram bytes a turn reads: 1 MiB. Under overload what arrives is mostly a
/// publisher's packets (100 KB per frame at 100 KB × 30 fps) and acknowledgements (tens of bytes
/// each): a round of the run queue at half a core brings several hundred KB, and with 512 KiB two
/// runs in 28 still had a group late for some viewers. Each datagram read is a copy in its
/// connection's queue until that connection's task handles it, so a flood of large datagrams read
/// for the whole [`TURN`] doubled the relay's peak memory; with this bound it grows by a few MiB
/// more than under quinn's runtime (`docs/performance.md`, "Target 4: the receive path's turn").
pub const TURN_BYTES: u64 = 1 << 20;

/// quinn's tokio runtime, with the endpoint driver's longer turns (module docs). One per endpoint:
/// the first task spawned through it is taken to be the endpoint's driver, as quinn's
/// `Endpoint::new` spawns it before anything else.
#[derive(Debug, Default)]
pub struct ReceiveFirst {
	driver_spawned: AtomicBool,
	/// Bytes of datagrams the endpoint's socket has received, ever.
	received: Arc<AtomicU64>,
}

impl quinn::Runtime for ReceiveFirst {
	fn new_timer(&self, at: Instant) -> Pin<Box<dyn quinn::AsyncTimer>> {
		quinn::TokioRuntime.new_timer(at)
	}

	fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
		if self.driver_spawned.swap(true, Ordering::Relaxed) {
			quinn::TokioRuntime.spawn(future);
		} else {
			let turns = LongTurns::new(future, TURN, self.received.clone(), TURN_BYTES);
			quinn::TokioRuntime.spawn(Box::pin(turns));
		}
	}

	fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> std::io::Result<Arc<dyn quinn::AsyncUdpSocket>> {
		Ok(Arc::new(Counted {
			inner: quinn::TokioRuntime.wrap_udp_socket(socket)?,
			received: self.received.clone(),
		}))
	}

	fn now(&self) -> Instant {
		quinn::TokioRuntime.now()
	}
}

/// quinn's tokio socket, counting the bytes it receives.
#[derive(Debug)]
struct Counted {
	inner: Arc<dyn quinn::AsyncUdpSocket>,
	received: Arc<AtomicU64>,
}

impl quinn::AsyncUdpSocket for Counted {
	fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn quinn::UdpPoller>> {
		self.inner.clone().create_io_poller()
	}

	fn try_send(&self, transmit: &quinn::udp::Transmit) -> std::io::Result<()> {
		self.inner.try_send(transmit)
	}

	fn poll_recv(
		&self,
		cx: &mut Context,
		bufs: &mut [IoSliceMut<'_>],
		meta: &mut [quinn::udp::RecvMeta],
	) -> Poll<std::io::Result<usize>> {
		let polled = self.inner.poll_recv(cx, bufs, meta);
		if let Poll::Ready(Ok(count)) = polled {
			let bytes: usize = meta.iter().take(count).map(|m| m.len).sum();
			self.received.fetch_add(bytes as u64, Ordering::Relaxed);
		}
		polled
	}

	fn local_addr(&self) -> std::io::Result<SocketAddr> {
		self.inner.local_addr()
	}

	fn max_transmit_segments(&self) -> usize {
		self.inner.max_transmit_segments()
	}

	fn max_receive_segments(&self) -> usize {
		self.inner.max_receive_segments()
	}

	fn may_fragment(&self) -> bool {
		self.inner.may_fragment()
	}
}

/// A future polled again at once, while it woke itself during its poll, for up to `turn` and while
/// `read` rose by less than `read_bound` since the turn began.
struct LongTurns<F> {
	inner: F,
	turn: Duration,
	read: Arc<AtomicU64>,
	read_bound: u64,
}

impl<F> LongTurns<F> {
	fn new(inner: F, turn: Duration, read: Arc<AtomicU64>, read_bound: u64) -> Self {
		Self {
			inner,
			turn,
			read,
			read_bound,
		}
	}

	fn read_since(&self, at_start: u64) -> u64 {
		self.read.load(Ordering::Relaxed).wrapping_sub(at_start)
	}
}

impl<F: Future + Unpin> Future for LongTurns<F> {
	type Output = F::Output;

	fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
		let started = Instant::now();
		let read_at_start = self.read.load(Ordering::Relaxed);
		loop {
			let wake = Arc::new(Forward {
				woken: AtomicBool::new(false),
				task: cx.waker().clone(),
			});
			let waker = Waker::from(wake.clone());
			if let Poll::Ready(output) = Pin::new(&mut self.inner).poll(&mut Context::from_waker(&waker)) {
				return Poll::Ready(output);
			}
			// Woken while it ran: it has work left (or new work came). The task was woken too,
			// so returning now queues it again at the back of the run queue. Once tokio's
			// cooperative budget for the task is spent, its I/O answers "not ready" and tokio
			// defers that wake until the task returns: not woken here, so the turn ends.
			if !wake.woken.load(Ordering::Acquire)
				|| started.elapsed() >= self.turn
				|| self.read_since(read_at_start) >= self.read_bound
			{
				return Poll::Pending;
			}
		}
	}
}

/// The waker a [`LongTurns`] poll hands its future: notes the wake and passes it on to the task.
struct Forward {
	woken: AtomicBool,
	task: Waker,
}

impl Wake for Forward {
	fn wake(self: Arc<Self>) {
		self.wake_by_ref();
	}

	fn wake_by_ref(self: &Arc<Self>) {
		self.woken.store(true, Ordering::Release);
		self.task.wake_by_ref();
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	/// A future that needs `left` polls, waking itself each time it is not done; counts its polls.
	struct Chunks {
		left: usize,
		polls: usize,
	}

	impl Future for Chunks {
		type Output = usize;
		fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
			self.polls += 1;
			if self.left == 0 {
				return Poll::Ready(self.polls);
			}
			self.left -= 1;
			cx.waker().wake_by_ref();
			Poll::Pending
		}
	}

	/// A future that is never done and never wakes itself (waits for I/O): one poll per turn.
	struct Waiting {
		polls: usize,
	}

	impl Future for Waiting {
		type Output = ();
		fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
			self.polls += 1;
			Poll::Pending
		}
	}

	/// A read counter that never moves: turns bounded by time alone.
	fn unread() -> Arc<AtomicU64> {
		Arc::new(AtomicU64::new(0))
	}

	struct CountWakes(std::sync::atomic::AtomicUsize);

	impl Wake for CountWakes {
		fn wake(self: Arc<Self>) {
			self.0.fetch_add(1, Ordering::Relaxed);
		}
	}

	#[test]
	fn a_future_that_wakes_itself_is_polled_again_within_one_turn() {
		let wakes = Arc::new(CountWakes(0.into()));
		let waker = Waker::from(wakes.clone());
		let mut future = LongTurns::new(
			Chunks { left: 5, polls: 0 },
			Duration::from_secs(60),
			unread(),
			u64::MAX,
		);
		let polled = Pin::new(&mut future).poll(&mut Context::from_waker(&waker));
		assert_eq!(polled, Poll::Ready(6), "five self-wakes, then done, in one turn");
		assert_eq!(wakes.0.load(Ordering::Relaxed), 5, "each self-wake reached the task");
	}

	#[test]
	fn a_turn_ends_at_its_length_with_the_task_woken() {
		let wakes = Arc::new(CountWakes(0.into()));
		let waker = Waker::from(wakes.clone());
		let mut future = LongTurns::new(
			Chunks {
				left: usize::MAX,
				polls: 0,
			},
			Duration::ZERO,
			unread(),
			u64::MAX,
		);
		assert_eq!(
			Pin::new(&mut future).poll(&mut Context::from_waker(&waker)),
			Poll::Pending
		);
		assert_eq!(future.inner.polls, 1, "a zero-length turn polls once");
		assert_eq!(wakes.0.load(Ordering::Relaxed), 1, "and the task is queued again");
	}

	/// [`Chunks`] that adds `per_poll` to a counter on every poll, as the endpoint's socket counts
	/// what the driver reads.
	struct Reading {
		chunks: Chunks,
		counter: Arc<AtomicU64>,
		per_poll: u64,
	}

	impl Future for Reading {
		type Output = usize;
		fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
			self.counter.fetch_add(self.per_poll, Ordering::Relaxed);
			Pin::new(&mut self.chunks).poll(cx)
		}
	}

	#[test]
	fn a_turn_ends_once_it_read_its_bytes() {
		let wakes = Arc::new(CountWakes(0.into()));
		let waker = Waker::from(wakes.clone());
		let counter = Arc::new(AtomicU64::new(u64::MAX - 1_000));
		let reading = Reading {
			chunks: Chunks {
				left: usize::MAX,
				polls: 0,
			},
			counter: counter.clone(),
			per_poll: 1_000,
		};
		let mut future = LongTurns::new(reading, Duration::from_secs(60), counter, 10_000);
		assert_eq!(
			Pin::new(&mut future).poll(&mut Context::from_waker(&waker)),
			Poll::Pending
		);
		assert_eq!(
			future.inner.chunks.polls, 10,
			"ten polls of 1,000 bytes reach the bound of 10,000"
		);
		assert_eq!(wakes.0.load(Ordering::Relaxed), 10);
		assert_eq!(
			Pin::new(&mut future).poll(&mut Context::from_waker(&waker)),
			Poll::Pending
		);
		assert_eq!(future.inner.chunks.polls, 20, "the next turn has its own bound");
	}

	/// Spends one unit of tokio's cooperative budget per poll, as the endpoint driver's socket and
	/// channel reads do; done after `left` units.
	struct Budgeted {
		left: usize,
	}

	impl Future for Budgeted {
		type Output = ();
		fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
			let spend = std::pin::pin!(tokio::task::coop::consume_budget());
			match spend.poll(cx) {
				// Spent: the budget wakes the task itself.
				Poll::Pending => Poll::Pending,
				Poll::Ready(()) if self.left == 0 => Poll::Ready(()),
				Poll::Ready(()) => {
					self.left -= 1;
					cx.waker().wake_by_ref();
					Poll::Pending
				}
			}
		}
	}

	/// A future that counts how often it is polled.
	struct Counting<F> {
		inner: F,
		polls: Arc<std::sync::atomic::AtomicUsize>,
	}

	impl<F: Future + Unpin> Future for Counting<F> {
		type Output = F::Output;
		fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
			self.polls.fetch_add(1, Ordering::Relaxed);
			Pin::new(&mut self.inner).poll(cx)
		}
	}

	#[test]
	fn a_turn_ends_when_the_tasks_cooperative_budget_is_spent() {
		let turns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
		let task = Counting {
			inner: LongTurns::new(Budgeted { left: 1_000 }, Duration::from_secs(600), unread(), u64::MAX),
			polls: turns.clone(),
		};
		// On a runtime of its own thread: a turn that polled on regardless would spin there until
		// its 600 s were up, and this test fails after 30 s instead of waiting for it.
		let (done, finished) = std::sync::mpsc::channel();
		std::thread::spawn(move || {
			let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
			runtime.block_on(async { tokio::spawn(task).await }).unwrap();
			let _ = done.send(());
		});
		finished
			.recv_timeout(Duration::from_secs(30))
			.expect("a turn ended once the budget was spent");
		let turns = turns.load(Ordering::Relaxed);
		assert!(
			turns >= 1_000 / 128,
			"1,000 units of a 128-unit budget take several turns, not {turns}"
		);
	}

	#[test]
	fn a_future_waiting_for_io_is_polled_once() {
		let wakes = Arc::new(CountWakes(0.into()));
		let waker = Waker::from(wakes.clone());
		let mut future = LongTurns::new(Waiting { polls: 0 }, Duration::from_secs(60), unread(), u64::MAX);
		assert_eq!(
			Pin::new(&mut future).poll(&mut Context::from_waker(&waker)),
			Poll::Pending
		);
		assert_eq!(future.inner.polls, 1);
		assert_eq!(wakes.0.load(Ordering::Relaxed), 0);
	}
}
