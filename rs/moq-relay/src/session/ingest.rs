//! A publisher's GROUP streams: routed to the upstream subscription they answer and appended to the
//! shared group, each frame refused from its header when it is over the limits, and its payload
//! passed on in parts as it arrives.

use std::sync::{Arc, Weak};

use super::{Reader, Shared, StreamError};
use crate::origin::GroupWriter;
use crate::transport::{Session, TransportError};
use crate::wire::{Decode, FrameHeader, Group as GroupHeader, StreamCode};

/// The peer's datagrams (lite-05 on), until the session ends: each a whole single-frame group of
/// one of the relay's subscriptions, kept by its track for the track's subscribers to send on
/// (`docs/protocol.md`, "Datagrams"). One that does not decode, or names no subscription of the
/// relay's, is dropped, as a datagram may be.
pub(super) async fn datagrams<S: Session>(shared: Arc<Shared<S>>) {
	loop {
		let received = tokio::select! {
			received = shared.transport.recv_datagram() => received,
			_ = shared.transport.closed() => return,
		};
		let Ok(bytes) = received else { return };
		let Ok(datagram) = crate::wire::Datagram::decode(&mut &bytes[..], shared.version) else {
			continue;
		};
		if let Some(track) = upstream_track(&shared, datagram.subscribe_id) {
			shared.ctx.metrics.datagram_received(datagram.payload.len());
			track.push_datagram(crate::origin::Datagram {
				sequence: datagram.sequence.into_inner(),
				timestamp: datagram.timestamp.into_inner(),
				payload: datagram.payload,
			});
		}
	}
}

/// The track of the relay's subscription `subscribe_id` to the peer, while anybody reads it.
fn upstream_track<S: Session>(
	shared: &Shared<S>,
	subscribe_id: crate::wire::VarInt,
) -> Option<Arc<crate::origin::Track>> {
	shared
		.upstream
		.lock()
		.unwrap_or_else(|e| e.into_inner())
		.get(&subscribe_id.into_inner())
		.and_then(Weak::upgrade)
}

/// A GROUP stream from the peer: route it to the upstream subscription it
/// belongs to and fill the shared group.
///
/// Frames are streamed: a frame's header alone decides whether it fits (`limits.max_frame`, the
/// group's `limits.max_group` budget), and its payload is appended to the group in parts as they
/// arrive, so subscribers receive a large frame while it is still arriving and the relay never
/// holds more of it than the publisher has sent.
pub(super) async fn group<S: Session>(shared: &Shared<S>, reader: &mut Reader<S::Recv>) -> Result<(), StreamError> {
	let version = shared.version;
	let header: GroupHeader = reader.expect(version).await?;
	// Frames follow: the stream leaves the control budget.
	reader.carry_frames();
	let Some(track) = upstream_track(shared, header.subscribe_id) else {
		// Unsubscribed meanwhile, or never ours: not an error worth a session.
		reader.stop(StreamCode::CANCEL);
		return Ok(());
	};
	let Some(mut group) = track.create_group(header.sequence.into_inner()) else {
		reader.stop(StreamCode::OLD);
		return Ok(());
	};
	drop(track);
	shared.ctx.metrics.group_received();
	// `docs/protocol.md` ("Bridging between versions"): a pre-05 publisher's frames are stamped with
	// the arrival time of their header in milliseconds since the UNIX epoch (the timescale synthesised
	// in its TRACK_INFO); on the wire that is the first frame's absolute time, then deltas from the
	// previous frame.
	let mut stamps = ArrivalStamps::default();
	loop {
		match frame(shared, reader, &mut group, &mut stamps).await {
			Ok(true) => {}
			Ok(false) => {
				group.finish();
				return Ok(());
			}
			Err(FrameError::Refused(code)) => {
				reader.stop(code);
				group.abort(code);
				return Ok(());
			}
			// The publisher abandoned the group, mid-frame or between frames: not fatal
			// (`docs/protocol.md`, "Group stream"); subscribers see the same reset.
			Err(FrameError::Failed(StreamError::Transport(TransportError::Reset(code)))) => {
				group.abort(StreamCode::from_u32(code));
				return Ok(());
			}
			// A truncated frame or a broken session: dropping the writer aborts the group.
			Err(FrameError::Failed(err)) => return Err(err),
		}
	}
}

/// One frame of the answer to the relay's FETCH into `group`, judged as a GROUP stream's frames
/// are; `Ok(false)` at the answer's FIN. A refused frame stops the stream with its code.
pub(super) async fn fetched_frame<S: Session>(
	shared: &Shared<S>,
	reader: &mut Reader<S::Recv>,
	group: &mut GroupWriter,
) -> Result<bool, StreamError> {
	// FETCH exists from lite-05 on, whose frames carry their timestamps: no arrival stamps.
	match frame(shared, reader, group, &mut ArrivalStamps::default()).await {
		Ok(more) => Ok(more),
		Err(FrameError::Refused(code)) => {
			reader.stop(code);
			Err(StreamError::Reset(code))
		}
		Err(FrameError::Failed(err)) => Err(err),
	}
}

/// Why a frame ended the group stream.
enum FrameError {
	/// Refused by a limit or the group: the stream is stopped with this code.
	Refused(StreamCode),
	/// The stream failed.
	Failed(StreamError),
}

impl From<StreamError> for FrameError {
	fn from(err: StreamError) -> Self {
		FrameError::Failed(err)
	}
}

/// Reads one frame into `group`: its header, judged before any payload is read, then its payload
/// part by part. `Ok(false)` at a clean end of the stream.
async fn frame<S: Session>(
	shared: &Shared<S>,
	reader: &mut Reader<S::Recv>,
	group: &mut GroupWriter,
	stamps: &mut ArrivalStamps,
) -> Result<bool, FrameError> {
	let version = shared.version;
	let Some(mut header) = reader.decode::<FrameHeader>(version).await? else {
		return Ok(false);
	};
	// The header alone decides whether the frame fits: a declared 2^40 bytes is refused before
	// any of its payload is read.
	let size = header.size.into_inner();
	let refused = if size > shared.ctx.limits.max_frame as u64 {
		Some((StreamCode::FRAME_TOO_LARGE, "frame_too_large"))
	} else if size > group.remaining() as u64 {
		Some((StreamCode::GROUP_TOO_LARGE, "group_too_large"))
	} else {
		None
	};
	if let Some((code, metric)) = refused {
		tracing::debug!(size, %code, "frame refused from its header");
		shared.ctx.metrics.limit_refused(metric);
		return Err(FrameError::Refused(code));
	}
	if !version.has_timestamps() {
		header.timestamp_delta = stamps.next();
	}
	group.start_frame(header).map_err(FrameError::Refused)?;
	loop {
		let left = group.frame_remaining();
		if left == 0 {
			break;
		}
		let part = reader.read_payload(group.min_chunk(), left).await?;
		group.append(part).map_err(FrameError::Refused)?;
	}
	// Counted once, when the frame is complete (`docs/relay.md`, "Metrics").
	shared
		.ctx
		.metrics
		.frame_received(usize::try_from(size).unwrap_or(usize::MAX));
	Ok(true)
}

/// Arrival timestamps for the frames of one pre-05 group, as the deltas lite-05+ carries.
#[derive(Default)]
struct ArrivalStamps {
	last_ms: Option<i64>,
}

impl ArrivalStamps {
	fn next(&mut self) -> i64 {
		let now = std::time::SystemTime::now()
			.duration_since(std::time::UNIX_EPOCH)
			.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
			.unwrap_or(0);
		// Never backwards, even if the clock steps.
		let now = self.last_ms.map_or(now, |last| now.max(last));
		let delta = now - self.last_ms.unwrap_or(0);
		self.last_ms = Some(now);
		delta
	}
}
