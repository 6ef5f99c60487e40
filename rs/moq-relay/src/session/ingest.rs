//! A publisher's GROUP streams: routed to the upstream subscription they answer and appended to the
//! shared group, each frame refused from its header when it is over the limits.

use std::sync::Weak;

use super::{Reader, Shared, StreamError};
use crate::transport::Session;
use crate::wire::{Frame, FrameHeader, Group as GroupHeader, StreamCode};

/// A GROUP stream from the peer: route it to the upstream subscription it
/// belongs to and fill the shared group.
pub(super) async fn group<S: Session>(shared: &Shared<S>, reader: &mut Reader<S::Recv>) -> Result<(), StreamError> {
	let version = shared.version;
	let header: GroupHeader = reader.expect(version).await?;
	// Frames follow, each refused from its header when over max_frame: the stream leaves the control
	// budget and may buffer one frame.
	reader.carry_frames(shared.ctx.limits.max_frame.saturating_add(32));
	let track = shared
		.upstream
		.lock()
		.unwrap_or_else(|e| e.into_inner())
		.get(&header.subscribe_id.into_inner())
		.and_then(Weak::upgrade);
	let Some(track) = track else {
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
	// `docs/protocol.md` ("Bridging between versions"): a pre-05 publisher's frames are stamped with their arrival time in
	// milliseconds since the UNIX epoch (the timescale synthesised in its TRACK_INFO); on the
	// wire that is the first frame's absolute time, then deltas from the previous frame.
	let mut stamps = ArrivalStamps::default();
	loop {
		// The header alone decides whether the frame fits: a declared 2^40 bytes is refused
		// before any of its payload is buffered.
		match reader.peek::<FrameHeader>(version).await {
			Ok(Some(header)) => {
				let size = header.size.into_inner();
				let refusal = if size > shared.ctx.limits.max_frame as u64 {
					Some(StreamCode::FRAME_TOO_LARGE)
				} else if size > group.remaining() as u64 {
					Some(StreamCode::GROUP_TOO_LARGE)
				} else {
					None
				};
				if let Some(code) = refusal {
					tracing::debug!(size, %code, "frame refused from its header");
					shared
						.ctx
						.metrics
						.limit_refused(if code == StreamCode::FRAME_TOO_LARGE {
							"frame_too_large"
						} else {
							"group_too_large"
						});
					reader.stop(code);
					group.abort(code);
					return Ok(());
				}
			}
			Ok(None) => {}
			Err(StreamError::Transport(crate::transport::TransportError::Reset(code))) => {
				group.abort(StreamCode::from_u32(code));
				return Ok(());
			}
			Err(err) => return Err(err),
		}
		match reader.decode::<Frame>(version).await {
			Ok(Some(mut frame)) => {
				if !version.has_timestamps() {
					frame.timestamp_delta = stamps.next();
				}
				shared.ctx.metrics.frame_received(frame.payload.len());
				if let Err(code) = group.push(frame) {
					reader.stop(code);
					return Ok(());
				}
			}
			Ok(None) => {
				group.finish();
				return Ok(());
			}
			// The publisher abandoned the group: not fatal (`docs/protocol.md`, "Group stream").
			Err(StreamError::Transport(crate::transport::TransportError::Reset(code))) => {
				group.abort(StreamCode::from_u32(code));
				return Ok(());
			}
			Err(err) => return Err(err),
		}
	}
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
