//! [`Woken`]: a future polled only when it asked to be.
//!
//! `tokio::select!` polls every branch each time its task wakes. A subscription's task wakes for
//! every frame of every group it writes (the group writers are polled by that task), and polling
//! the subscription's control stream costs a lookup in the QUIC connection's stream table under
//! its lock each time, although nothing arrives on it for the whole subscription. Wrapped in
//! [`Woken`], the control stream's future is polled again only after its own waker fired
//! (the approach of `futures::stream::FuturesUnordered`, which polls only the futures that
//! woke).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::task::{ArcWake, AtomicWaker, waker_ref};

/// Polls `F` on its first poll and afterwards only when `F`'s waker fired since the last poll.
pub(super) struct Woken<F> {
	inner: Pin<Box<F>>,
	signal: Arc<Signal>,
}

/// Set by `F`'s waker; passes the wake-up on to whoever polls the [`Woken`].
struct Signal {
	woken: AtomicBool,
	outer: AtomicWaker,
}

impl ArcWake for Signal {
	fn wake_by_ref(signal: &Arc<Self>) {
		signal.woken.store(true, Ordering::Release);
		signal.outer.wake();
	}
}

impl<F: Future> Woken<F> {
	pub(super) fn new(inner: F) -> Self {
		Self {
			inner: Box::pin(inner),
			signal: Arc::new(Signal {
				woken: AtomicBool::new(true),
				outer: AtomicWaker::new(),
			}),
		}
	}
}

impl<F: Future> Future for Woken<F> {
	type Output = F::Output;

	fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
		let this = self.get_mut();
		// Registered before the flag is read: a wake-up between the two is not lost.
		this.signal.outer.register(cx.waker());
		if !this.signal.woken.swap(false, Ordering::AcqRel) {
			return Poll::Pending;
		}
		let waker = waker_ref(&this.signal);
		this.inner.as_mut().poll(&mut Context::from_waker(&waker))
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::sync::Mutex;
	use std::sync::atomic::AtomicUsize;
	use std::task::Waker;

	struct Counter(AtomicUsize);

	impl ArcWake for Counter {
		fn wake_by_ref(counter: &Arc<Self>) {
			counter.0.fetch_add(1, Ordering::SeqCst);
		}
	}

	#[test]
	fn the_inner_future_is_polled_first_and_then_only_after_its_own_wake() {
		let polls = Arc::new(AtomicUsize::new(0));
		let ready = Arc::new(AtomicBool::new(false));
		let kept: Arc<Mutex<Option<Waker>>> = Arc::default();
		// Like an I/O future: keeps the waker it was polled with, ready once `ready` is set.
		let inner = {
			let (polls, ready, kept) = (polls.clone(), ready.clone(), kept.clone());
			std::future::poll_fn(move |cx| {
				polls.fetch_add(1, Ordering::SeqCst);
				*kept.lock().unwrap() = Some(cx.waker().clone());
				if ready.load(Ordering::SeqCst) {
					Poll::Ready(())
				} else {
					Poll::Pending
				}
			})
		};
		let mut woken = Woken::new(inner);
		let outer_wakes = Arc::new(Counter(AtomicUsize::new(0)));
		let outer = futures::task::waker(outer_wakes.clone());
		let mut cx = Context::from_waker(&outer);

		assert!(Pin::new(&mut woken).poll(&mut cx).is_pending());
		assert_eq!(
			polls.load(Ordering::SeqCst),
			1,
			"the first poll reaches the inner future"
		);
		// The task woke for something else: the inner future is not polled.
		for _ in 0..5 {
			assert!(Pin::new(&mut woken).poll(&mut cx).is_pending());
		}
		assert_eq!(
			polls.load(Ordering::SeqCst),
			1,
			"polls without its wake-up stay outside"
		);

		// Its own waker fires: the outer task is woken and the next poll reaches it.
		ready.store(true, Ordering::SeqCst);
		kept.lock()
			.unwrap()
			.take()
			.expect("the inner future kept a waker")
			.wake();
		assert_eq!(outer_wakes.0.load(Ordering::SeqCst), 1, "the outer task was woken");
		assert!(Pin::new(&mut woken).poll(&mut cx).is_ready());
		assert_eq!(polls.load(Ordering::SeqCst), 2);
	}
}
