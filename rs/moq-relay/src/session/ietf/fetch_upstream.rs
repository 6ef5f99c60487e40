//! The relay's FETCH to a draft publisher (`docs/protocol.md`, "Fetching what the relay does not
//! hold"): a subscriber's FETCH of a group the relay does not hold is asked of the session that
//! published it, for the whole group, and the answer's objects fill the group as they arrive.
//!
//! On draft-14 to draft-16 the FETCH goes on the control stream, where FETCH_OK or FETCH_ERROR
//! (REQUEST_ERROR from draft-15 on) answers it and FETCH_CANCEL gives it up; from draft-17 on it
//! opens a request stream of its own, answered there, reset to give it up and ended (FIN) once
//! the objects are in. Either way the objects come on a fetch stream of the publisher's (its
//! FETCH_HEADER names the Request ID), which may arrive before the answer: it waits, registered
//! under its Request ID, until the answer said the range is not empty.
//!
//! A draft-20 FETCH names the group by LOCATION_FILTER (an Absolute Group End of the group), and
//! its FETCH_OK End Location is the last object, not the one after it. The objects must be the
//! group's own from object 0 on, in order, in subgroup 0 (what the relay's groups are); anything
//! else, a hole or an empty answer leaves the group NOT_FOUND.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use moq_token::Path;
use tokio::sync::oneshot;

use super::ingest::{ArrivalStamps, Refused, object_payload};
use super::io::{self, DraftReader};
use super::{Shared, StreamError};
use crate::logging::Peer;
use crate::origin::GroupWriter;
use crate::session::budget::Open;
use crate::transport::{SendStream, Session, TransportError};
use crate::wire::ietf::draft18::{
	self, FetchTarget, LocationFilter, MessageParameters, ParamValue, RequestMessage, parameter,
};
use crate::wire::ietf::{
	ControlMessage, Draft, Fetch, FetchEntry, FetchLocation, FetchReader, FetchType, GroupOrder, Location,
	ObjectStatus, Parameters, path_to_namespace, stream_code, termination,
};
use crate::wire::{StreamCode, VarInt};

/// A fetch stream of the peer's, with its place in the session's stream budget.
pub(super) type Delivered<R> = (DraftReader<R>, Open);

/// The relay's FETCHes to the peer that wait for their fetch streams, by Request ID.
pub(super) struct Awaited<R> {
	streams: Mutex<HashMap<u64, oneshot::Sender<Delivered<R>>>>,
}

impl<R> Default for Awaited<R> {
	fn default() -> Self {
		Self {
			streams: Mutex::new(HashMap::new()),
		}
	}
}

impl<R> Awaited<R> {
	fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Delivered<R>>>> {
		self.streams.lock().unwrap_or_else(|e| e.into_inner())
	}

	/// Hands the peer's fetch stream for `id` to the FETCH waiting for it; gives it back when
	/// none does (a FETCH the relay never sent, gave up or already has a stream for).
	pub(super) fn deliver(&self, id: VarInt, stream: Delivered<R>) -> Result<(), Delivered<R>> {
		match self.lock().remove(&id.into_inner()) {
			Some(waiting) => waiting.send(stream),
			None => Err(stream),
		}
	}
}

/// What the peer answered to a FETCH of the relay's on the control stream (draft-14 to
/// draft-16): the exclusive end of the range it serves, or its refusal's reason.
pub(super) type ControlAnswer = Result<(u64, u64), String>;

/// Why the fetched group did not fill: the code its readers see.
type Failed = StreamCode;

/// FETCH of group `group` of `name` in the broadcast `absolute` from the peer, which published
/// it: the group fills as the objects arrive and ends with the fetch stream. A refusal, an empty
/// answer or an answer the relay cannot hold aborts it NOT_FOUND; once nobody waits for the group
/// any more (checked once a second, [`crate::session::upstream::given_up`]) or the session ends,
/// the FETCH is given up.
pub(super) async fn fetch<S: Session>(shared: Arc<Shared<S>>, absolute: Path, name: String, mut group: GroupWriter) {
	let sequence = group.sequence();
	let held = group.held();
	let result = tokio::select! {
		result = ask(&shared, &absolute, &name, &mut group) => result,
		() = crate::session::upstream::given_up(held) => Err(StreamCode::CANCEL),
		_ = shared.transport.closed() => Err(StreamCode::CANCEL),
	};
	tracing::debug!(broadcast = %Peer(absolute.as_str()), track = %Peer(&name), sequence, ok = result.is_ok(), "upstream fetch ended (draft)");
	match result {
		Ok(()) => group.finish(),
		Err(code) => group.abort(code),
	}
}

/// Sends the FETCH, waits for its answer and reads its objects into `group`. Dropped before
/// it returns, it gives the FETCH up (its guards send FETCH_CANCEL or reset the request stream).
async fn ask<S: Session>(
	shared: &Shared<S>,
	absolute: &Path,
	name: &str,
	group: &mut GroupWriter,
) -> Result<(), Failed> {
	let path = absolute
		.strip_prefix(shared.grant.root())
		.ok_or(StreamCode::NOT_FOUND)?;
	let request = Request {
		namespace: path_to_namespace(path.as_str()),
		track: name.to_string(),
		group: group.sequence(),
	};
	match shared.draft.has_request_streams() {
		true => on_stream(shared, &request, group).await,
		false => {
			let (delivered, end) = on_control(shared, &request).await?;
			fill(shared, delivered, group, end).await
		}
	}
}

/// The group the relay asks for.
pub(super) struct Request {
	/// The broadcast's namespace, relative to the session's root.
	pub(super) namespace: Vec<String>,
	/// The track's name.
	pub(super) track: String,
	/// The group's sequence.
	pub(super) group: u64,
}

/// Draft-14 to draft-16: FETCH on the control stream, then its fetch stream.
async fn on_control<S: Session>(
	shared: &Shared<S>,
	request: &Request,
) -> Result<(Delivered<S::Recv>, (u64, u64)), Failed> {
	let id = super::ingest::own_request_id(shared).await.ok_or(StreamCode::CANCEL)?;
	let (answer, answered) = oneshot::channel();
	shared.state().fetch_answers.insert(id.into_inner(), answer);
	let (stream, delivered) = oneshot::channel();
	shared.fetch_streams.lock().insert(id.into_inner(), stream);
	let mut pending = Pending {
		shared,
		id,
		cancel: true,
	};
	let start = Location::new(
		VarInt::from_u64(request.group).map_err(|_| StreamCode::NOT_FOUND)?,
		VarInt::ZERO,
	);
	let fetch = ControlMessage::Fetch(Fetch {
		request_id: id,
		priority: 0,
		group_order: GroupOrder::Ascending,
		// An End Object of 0: the whole End Group.
		fetch_type: FetchType::Standalone {
			namespace: request.namespace.clone(),
			track: request.track.clone(),
			start,
			end: start,
		},
		parameters: Parameters::default(),
	});
	if !shared.send(vec![fetch]).await {
		return Err(StreamCode::CANCEL);
	}
	let end = match answered.await {
		Ok(Ok(end)) => end,
		Ok(Err(reason)) => {
			pending.cancel = false;
			tracing::debug!(reason = %Peer(&reason), "upstream fetch refused (draft)");
			return Err(StreamCode::NOT_FOUND);
		}
		Err(_) => return Err(StreamCode::CANCEL),
	};
	if end <= (request.group, 0) {
		// An empty answer opens no fetch stream.
		pending.cancel = false;
		return Err(StreamCode::NOT_FOUND);
	}
	let stream = delivered.await.map_err(|_| StreamCode::CANCEL)?;
	// From here the FETCH ends with its stream: nothing to cancel.
	pending.cancel = false;
	Ok((stream, end))
}

/// A control-stream FETCH of the relay's until its stream arrived: dropped, it forgets the
/// FETCH and, unless answered with nothing to cancel, sends FETCH_CANCEL.
struct Pending<'a, S: Session> {
	shared: &'a Shared<S>,
	id: VarInt,
	cancel: bool,
}

impl<S: Session> Drop for Pending<'_, S> {
	fn drop(&mut self) {
		self.shared.state().fetch_answers.remove(&self.id.into_inner());
		self.shared.fetch_streams.lock().remove(&self.id.into_inner());
		if self.cancel {
			// The control queue may be full or gone; the fetch stream, if it comes, is then
			// stopped as one nobody waits for.
			let _ = self
				.shared
				.control
				.try_send(Box::new(ControlMessage::FetchCancel(self.id)));
		}
	}
}

/// Draft-17 on: FETCH on a request stream of its own, answered there, then its fetch stream.
/// The request stream is ended (FIN) after the objects are in, as the published client does: an
/// early FIN reads as giving the FETCH up before draft-19.
async fn on_stream<S: Session>(shared: &Shared<S>, request: &Request, group: &mut GroupWriter) -> Result<(), Failed> {
	let draft = shared.draft;
	let id = shared.state().own.allocate().map_err(|_| StreamCode::CANCEL)?;
	let (stream, delivered) = oneshot::channel();
	shared.fetch_streams.lock().insert(id.into_inner(), stream);
	let forget = Forget { shared, id };
	let (send, recv) = shared.transport.open_bi().await.map_err(|_| StreamCode::CANCEL)?;
	let mut send = Cancelling(Some(send), draft);
	let message = RequestMessage::Fetch(fetch18(id, request, draft)?);
	let bytes = io::encode(&message, draft).map_err(|_| StreamCode::INTERNAL)?;
	if let Some(send) = send.0.as_mut() {
		io::write(send, &bytes).await.map_err(|_| StreamCode::CANCEL)?;
	}
	let mut reader = DraftReader::new(recv, shared.ctx.limits.max_message);
	let end = match reader.decode::<RequestMessage, _>(draft).await {
		Ok(Some(RequestMessage::FetchOk(ok))) => match draft.fetch_by_filter() {
			// Draft-20 on: the last object, inclusive.
			true => (ok.end.0, ok.end.1.saturating_add(1)),
			false => ok.end,
		},
		Ok(Some(RequestMessage::RequestError(err))) => {
			tracing::debug!(reason = %Peer(&err.reason), "upstream fetch refused (draft)");
			send.done();
			return Err(StreamCode::NOT_FOUND);
		}
		Ok(Some(other)) => {
			let reason = format!("{} answering a FETCH", other.name());
			shared.close(termination::PROTOCOL_VIOLATION, &reason);
			return Err(StreamCode::CANCEL);
		}
		Ok(None) | Err(_) => return Err(StreamCode::CANCEL),
	};
	if end <= (request.group, 0) {
		send.done();
		return Err(StreamCode::NOT_FOUND);
	}
	let stream = delivered.await.map_err(|_| StreamCode::CANCEL)?;
	drop(forget);
	// The request stream stays open while the objects come; it is ended after them.
	let filled = fill(shared, stream, group, end).await;
	send.done();
	filled
}

/// The draft-17+ FETCH of one whole group: a Standalone Fetch Type with an End Object of 0 (the
/// whole End Group) to draft-19; from draft-20 on the track and an Absolute Group End filter.
pub(super) fn fetch18(id: VarInt, request: &Request, draft: Draft) -> Result<draft18::Fetch, Failed> {
	let group = VarInt::from_u64(request.group).map_err(|_| StreamCode::NOT_FOUND)?;
	let parameters = MessageParameters::default()
		.with(parameter::SUBSCRIBER_PRIORITY, ParamValue::Byte(0))
		.with(parameter::GROUP_ORDER, ParamValue::Byte(1));
	let (target, parameters) = match draft.fetch_by_filter() {
		true => {
			let filter = LocationFilter::Absolute {
				start: (request.group, 0),
				end_group: Some(request.group),
				end_object: None,
			};
			let value = filter.encode(draft).map_err(|_| StreamCode::INTERNAL)?;
			let target = FetchTarget::Track {
				namespace: request.namespace.clone(),
				track: request.track.clone(),
			};
			(
				target,
				parameters.with(parameter::SUBSCRIPTION_FILTER, ParamValue::Bytes(value.into())),
			)
		}
		false => {
			let start = Location::new(group, VarInt::ZERO);
			let target = FetchTarget::Typed(FetchType::Standalone {
				namespace: request.namespace.clone(),
				track: request.track.clone(),
				start,
				end: start,
			});
			(target, parameters)
		}
	};
	Ok(draft18::Fetch {
		request_id: id,
		target,
		parameters,
	})
}

/// Forgets a draft-17+ FETCH's place among the awaited fetch streams when dropped.
struct Forget<'a, S: Session> {
	shared: &'a Shared<S>,
	id: VarInt,
}

impl<S: Session> Drop for Forget<'_, S> {
	fn drop(&mut self) {
		self.shared.fetch_streams.lock().remove(&self.id.into_inner());
	}
}

/// A request stream that is reset (CANCELLED) when dropped, unless [`done`](Self::done) ended
/// it: how a draft-17+ FETCH is given up.
struct Cancelling<W: SendStream>(Option<W>, Draft);

impl<W: SendStream> Cancelling<W> {
	fn done(&mut self) {
		if let Some(mut send) = self.0.take() {
			let _ = send.finish();
		}
	}
}

impl<W: SendStream> Drop for Cancelling<W> {
	fn drop(&mut self) {
		if let Some(mut send) = self.0.take() {
			send.reset(io::reset_code(StreamCode::CANCEL, self.1).into_inner());
		}
	}
}

/// The fetch stream's objects into `group`: the group's own objects from 0 on, in order, in
/// subgroup 0, before `end` (the exclusive End Location the answer named), each a frame stamped
/// on arrival; its FIN (or an End of Group) completes the group. Anything else stops the stream
/// and leaves the group NOT_FOUND; a malformed stream closes the session, as a malformed subgroup
/// stream does.
async fn fill<S: Session>(
	shared: &Shared<S>,
	(mut reader, _open): Delivered<S::Recv>,
	group: &mut GroupWriter,
	end: (u64, u64),
) -> Result<(), Failed> {
	let draft = shared.draft;
	let sequence = group.sequence();
	// An End Location in the group bounds it; one past the group does not.
	let last = (end.0 == sequence).then_some(end.1);
	let mut locations = FetchReader::new(draft);
	let mut stamps = ArrivalStamps::default();
	let mut next = 0u64;
	let unheld = |reader: &mut DraftReader<S::Recv>| {
		reader.stop(StreamCode::CANCEL, draft);
		Err(StreamCode::NOT_FOUND)
	};
	loop {
		let entry = match reader.decode::<FetchEntry, _>(draft).await {
			Ok(Some(entry)) => entry,
			Ok(None) if next > 0 => return Ok(()),
			Ok(None) => return Err(StreamCode::NOT_FOUND),
			Err(err) => return Err(failed(shared, err)),
		};
		let at = match locations.locate(&entry) {
			Ok(at) => at,
			Err(reason) => {
				shared.close(termination::PROTOCOL_VIOLATION, reason);
				return Err(StreamCode::CANCEL);
			}
		};
		let FetchEntry::Object {
			status, payload_len, ..
		} = entry
		else {
			// An End of Range: a hole, which no group of the relay's can hold.
			return unheld(&mut reader);
		};
		let in_order = at
			== FetchLocation::Object {
				group: sequence,
				subgroup: Some(0),
				object: next,
			};
		if !in_order || last.is_some_and(|last| next >= last) {
			return unheld(&mut reader);
		}
		match status {
			ObjectStatus::Normal => {}
			ObjectStatus::EndOfGroup | ObjectStatus::EndOfTrack if next > 0 => return Ok(()),
			ObjectStatus::DoesNotExist | ObjectStatus::EndOfGroup | ObjectStatus::EndOfTrack => {
				return unheld(&mut reader);
			}
		}
		match object_payload(shared, &mut reader, group, payload_len, &mut stamps).await {
			Ok(()) => next += 1,
			Err(Refused::Code(code)) => {
				reader.stop(code, draft);
				return Err(code);
			}
			Err(Refused::Stream(err)) => return Err(failed(shared, err)),
		}
	}
}

/// The code a fetched group ends with when its stream failed: the publisher's reset code, or
/// CANCEL once a malformed stream closed the session.
fn failed<S: Session>(shared: &Shared<S>, err: StreamError) -> Failed {
	match err {
		StreamError::Transport(TransportError::Reset(code)) => stream_code::from_draft(code, shared.draft),
		err => {
			if let crate::wire::Disposition::CloseSession(code) = err.disposition() {
				shared.close(code, &err.to_string());
			}
			StreamCode::CANCEL
		}
	}
}

#[cfg(test)]
mod tests {
	use std::time::Duration;

	use tokio::sync::mpsc;

	use super::super::{ingest, new_shared};
	use super::*;
	use crate::audit::Trail;
	use crate::auth::Grant;
	use crate::origin::{Group, Publication};
	use crate::protocol::ietf::{OwnRequests, PeerRequests, TokenCache};
	use crate::session::tests::{anon, context};
	use crate::transport::mem::{MemSession, pair};
	use crate::wire::ietf::draft18::RequestError;
	use crate::wire::ietf::{FetchObjects, FetchOk};

	/// The drafts of each form: the control stream (14 to 16), a request stream (17 on), a
	/// LOCATION_FILTER and an inclusive End Location (20 on).
	const DRAFTS: [Draft; 7] = [
		Draft::Draft14,
		Draft::Draft15,
		Draft::Draft16,
		Draft::Draft17,
		Draft::Draft18,
		Draft::Draft20,
		Draft::Draft22,
	];

	/// A relay's draft session with a publisher (`peer`) that published `clock`, and what the
	/// relay queues on its control stream.
	struct Harness {
		peer: MemSession,
		shared: Arc<Shared<MemSession>>,
		control: mpsc::Receiver<Box<ControlMessage>>,
		ctx: Arc<crate::session::Context>,
		_publication: Publication,
		_down: tokio::sync::watch::Sender<bool>,
	}

	impl Harness {
		fn start(draft: Draft) -> Self {
			let (ctx, down) = context(anon());
			let (peer, server) = pair();
			peer.allow_streams(100);
			let (control, queue) = mpsc::channel(16);
			let (upstream, requests) = crate::origin::Upstream::channel();
			let ids = (PeerRequests::new(true, 1024), OwnRequests::new(false, VarInt::MAX));
			let tokens = TokenCache::new(1024);
			let shared = new_shared(
				&server,
				draft,
				(&Grant::peer(), Trail::dialed()),
				&ctx,
				(control, upstream.clone()),
				ids,
				tokens,
			);
			let publication = ctx.origin.publish(Path::new("clock").unwrap(), Vec::new(), upstream);
			tokio::spawn(ingest::serve_requests(shared.clone(), requests));
			tokio::spawn(ingest::accept_uni(shared.clone()));
			Self {
				peer,
				shared,
				control: queue,
				ctx,
				_publication: publication,
				_down: down,
			}
		}

		fn draft(&self) -> Draft {
			self.shared.draft
		}

		/// A viewer's fetch of group 5 of `clock`/`t`, which the relay does not hold.
		fn fetch(&self) -> Arc<Group> {
			self.ctx.origin.fetch(&Path::new("clock").unwrap(), "t", 5).unwrap()
		}

		/// The FETCH the relay sent, checked to be of the whole group 5, and what the publisher
		/// answers it on (draft-17 on: the request stream).
		async fn asked(&mut self) -> Asked {
			let draft = self.draft();
			if !draft.has_request_streams() {
				let Some(message) = self.control.recv().await else {
					panic!("{draft}: no FETCH");
				};
				let ControlMessage::Fetch(fetch) = *message else {
					panic!("{draft}: {message:?}");
				};
				let at = Location::new(VarInt::from_u32(5), VarInt::ZERO);
				let whole = FetchType::Standalone {
					namespace: vec!["clock".into()],
					track: "t".into(),
					start: at,
					end: at,
				};
				assert_eq!(fetch.fetch_type, whole, "{draft}");
				return Asked::Control(fetch.request_id);
			}
			let (send, recv) = self.peer.accept_bi().await.unwrap();
			let mut reader = DraftReader::new(recv, 4096);
			let Some(RequestMessage::Fetch(fetch)) = reader.decode::<RequestMessage, _>(draft).await.unwrap() else {
				panic!("{draft}: no FETCH");
			};
			match draft.fetch_by_filter() {
				true => {
					let filter = fetch.parameters.location_filter(draft).unwrap();
					let whole = LocationFilter::Absolute {
						start: (5, 0),
						end_group: Some(5),
						end_object: None,
					};
					assert_eq!(filter, whole, "{draft}");
				}
				false => {
					let FetchTarget::Typed(FetchType::Standalone { start, end, .. }) = fetch.target else {
						panic!("{draft}: {:?}", fetch.target);
					};
					assert_eq!((start, end), (Location::new(VarInt::from_u32(5), VarInt::ZERO), start));
				}
			}
			Asked::Stream(fetch.request_id, send, reader)
		}

		/// FETCH_OK whose range ends with the object `last`: the End Location after it, from
		/// draft-20 on `last` itself.
		async fn ok(&self, asked: &mut Asked, last: (u64, u64)) {
			let draft = self.draft();
			let end = match draft.fetch_by_filter() {
				true => last,
				false => (last.0, last.1 + 1),
			};
			match asked {
				Asked::Control(id) => {
					let ok = ControlMessage::FetchOk(FetchOk {
						request_id: *id,
						group_order: GroupOrder::Ascending,
						end_of_track: false,
						end: Location::new(VarInt::from_u64(end.0).unwrap(), VarInt::from_u64(end.1).unwrap()),
						parameters: Parameters::default(),
						extensions: Vec::new(),
					});
					super::super::handle(&self.shared, ok).await.unwrap();
				}
				Asked::Stream(_, send, _) => {
					let ok = RequestMessage::FetchOk(draft18::FetchOk {
						end_of_track: false,
						end,
						parameters: MessageParameters::default(),
						properties: Vec::new(),
					});
					send.write_all(&io::encode(&ok, draft).unwrap()).await.unwrap();
				}
			}
		}

		/// The publisher's refusal.
		async fn refuse(&self, asked: &mut Asked) {
			let draft = self.draft();
			let error = |id| super::super::request_error(id, 0x10, "no such group");
			match asked {
				Asked::Control(id) if draft == Draft::Draft14 => {
					let refused = ControlMessage::FetchError(error(*id));
					super::super::handle(&self.shared, refused).await.unwrap();
				}
				Asked::Control(id) => {
					let refused = ControlMessage::RequestError(error(*id));
					super::super::handle(&self.shared, refused).await.unwrap();
				}
				Asked::Stream(_, send, _) => {
					let refused = RequestMessage::RequestError(RequestError {
						code: VarInt::from_u32(0x10),
						retry_interval: VarInt::ZERO,
						reason: "no such group".into(),
					});
					send.write_all(&io::encode(&refused, draft).unwrap()).await.unwrap();
				}
			}
		}

		/// A fetch stream for `asked` carrying `objects` ((group, object), payload), then FIN.
		/// An object that skips Object IDs in its group is written with its Object ID field
		/// alone (an Object ID Delta from draft-18 on), as [`FetchObjects`] never writes it.
		async fn stream(&self, asked: &Asked, objects: &[((u64, u64), &str)]) {
			let draft = self.draft();
			let mut bytes = io::encode(&crate::wire::ietf::DataStreamHeader::Fetch(asked.id()), draft).unwrap();
			let mut writer = FetchObjects::new(draft);
			let mut prior: Option<(u64, u64)> = None;
			for (at, payload) in objects {
				let len = payload.len() as u8;
				match prior {
					Some((group, object)) if group == at.0 && at.1 > object + 1 => {
						let field = match draft.fetch_group_delta() {
							true => at.1 - object,
							false => at.1,
						};
						match draft.fetch_serialization_flags() {
							true => bytes.extend([0x04, field as u8, len]),
							false => bytes.extend([at.0 as u8, 0, at.1 as u8, 0, 0, len]),
						}
					}
					_ => bytes.extend(writer.header(*at, 0, u64::from(len)).unwrap()),
				}
				bytes.extend(payload.as_bytes());
				prior = Some(*at);
			}
			self.raw_stream(bytes).await;
		}

		/// A unidirectional stream of the publisher's carrying `bytes`, then FIN.
		async fn raw_stream(&self, bytes: Vec<u8>) {
			let mut send = self.peer.open_uni().await.unwrap();
			send.write_all(&bytes).await.unwrap();
			send.finish().unwrap();
		}
	}

	/// A fetched object: its (group, object) and payload.
	type Object = ((u64, u64), &'static str);

	/// Where the relay's FETCH came: its Request ID, and from draft-17 on its request stream.
	enum Asked {
		Control(VarInt),
		Stream(
			VarInt,
			crate::transport::mem::MemSend,
			DraftReader<crate::transport::mem::MemRecv>,
		),
	}

	impl Asked {
		fn id(&self) -> VarInt {
			match self {
				Self::Control(id) | Self::Stream(id, ..) => *id,
			}
		}
	}

	/// The frames of a group once it ended, or how it was aborted.
	async fn frames(group: &Arc<Group>) -> Result<Vec<String>, StreamCode> {
		let mut reader = group.reader();
		let mut frames = Vec::new();
		let read = async {
			while let Some(frame) = reader.next().await? {
				frames.push(String::from_utf8(frame.payload.to_vec()).unwrap());
			}
			Ok(())
		};
		tokio::time::timeout(Duration::from_secs(10), read)
			.await
			.expect("the group ended")?;
		Ok(frames)
	}

	/// A draft publisher's answer fills the group a viewer fetched: the relay asks for the whole
	/// group in the publisher's draft's form, and the objects on the fetch stream become the
	/// group's frames, complete at the stream's FIN; the fetch stream may come before FETCH_OK.
	#[tokio::test]
	async fn a_draft_publishers_answer_fills_the_fetched_group() {
		for draft in DRAFTS {
			for stream_first in [false, true] {
				let mut harness = Harness::start(draft);
				let group = harness.fetch();
				let mut asked = harness.asked().await;
				let objects = [((5, 0), "a"), ((5, 1), "bb"), ((5, 2), "ccc")];
				if stream_first {
					harness.stream(&asked, &objects).await;
				}
				harness.ok(&mut asked, (5, 2)).await;
				if !stream_first {
					harness.stream(&asked, &objects).await;
				}
				assert_eq!(
					frames(&group).await,
					Ok(vec!["a".into(), "bb".into(), "ccc".into()]),
					"{draft}"
				);
				if let Asked::Stream(_, _, mut reader) = asked {
					// The request stream ends (FIN) once the objects are in.
					let end = tokio::time::timeout(Duration::from_secs(5), reader.decode::<RequestMessage, _>(draft));
					assert!(
						matches!(end.await, Ok(Ok(None))),
						"{draft}: the request stream did not end"
					);
				}
			}
		}
	}

	/// What no group of the relay's can hold leaves the fetched group NOT_FOUND: the publisher's
	/// refusal, an answer with no objects, objects that start past object 0 or skip one, objects
	/// of another group or past FETCH_OK's End Location, and (draft-15 on) an End of Range; a
	/// first object that refers to a prior one closes the session PROTOCOL_VIOLATION.
	#[tokio::test]
	async fn what_the_group_cannot_hold_leaves_it_not_found() {
		for draft in DRAFTS {
			let mut harness = Harness::start(draft);
			let group = harness.fetch();
			let mut asked = harness.asked().await;
			harness.refuse(&mut asked).await;
			assert_eq!(frames(&group).await, Err(StreamCode::NOT_FOUND), "{draft}: refused");
			// Each with the last object FETCH_OK names.
			let cases: [(&str, (u64, u64), &[Object]); 5] = [
				("nothing", (5, 2), &[]),
				("from object 1", (5, 2), &[((5, 1), "b")]),
				("a skipped object", (5, 2), &[((5, 0), "a"), ((5, 2), "c")]),
				("another group", (6, 0), &[((5, 0), "a"), ((6, 0), "x")]),
				("past the End Location", (5, 0), &[((5, 0), "a"), ((5, 1), "b")]),
			];
			for (what, end, objects) in cases {
				let mut harness = Harness::start(draft);
				let group = harness.fetch();
				let mut asked = harness.asked().await;
				harness.ok(&mut asked, end).await;
				harness.stream(&asked, objects).await;
				assert_eq!(frames(&group).await, Err(StreamCode::NOT_FOUND), "{draft}: {what}");
			}
			if draft.fetch_serialization_flags() {
				let mut harness = Harness::start(draft);
				let group = harness.fetch();
				let mut asked = harness.asked().await;
				harness.ok(&mut asked, (5, 2)).await;
				let mut bytes = io::encode(&crate::wire::ietf::DataStreamHeader::Fetch(asked.id()), draft).unwrap();
				bytes.extend(FetchObjects::new(draft).header((5, 0), 0, 1).unwrap());
				bytes.push(b'a');
				// End of Non-Existent Range (0x8C, a two-byte integer) at object 3: of group 5,
				// or from draft-18 on (where a Group ID Delta of 0 is the next group) of group 6.
				match draft.fetch_group_delta() {
					true => bytes.extend([0x40, 0x8C, 0x00, 0x03]),
					false => bytes.extend([0x40, 0x8C, 0x05, 0x03]),
				}
				harness.raw_stream(bytes).await;
				assert_eq!(
					frames(&group).await,
					Err(StreamCode::NOT_FOUND),
					"{draft}: End of Range"
				);

				// A first object that refers to a prior one (no Group ID, no Object ID): the
				// session is closed PROTOCOL_VIOLATION.
				let mut harness = Harness::start(draft);
				let group = harness.fetch();
				let mut asked = harness.asked().await;
				harness.ok(&mut asked, (5, 2)).await;
				let mut bytes = io::encode(&crate::wire::ietf::DataStreamHeader::Fetch(asked.id()), draft).unwrap();
				bytes.extend([0x10, 0x00, 0x01, b'a']);
				harness.raw_stream(bytes).await;
				assert!(frames(&group).await.is_err(), "{draft}: a first object without its IDs");
				let closed = harness.peer.closed().await.to_string();
				let code = termination::PROTOCOL_VIOLATION.into_inner();
				assert!(closed.contains(&format!("code {code}:")), "{draft}: {closed}");
			}
		}
	}

	/// A fetch nobody waits for any more is given up within a second: FETCH_CANCEL on the
	/// control stream to draft-16 (and the publisher's answer that crossed it is ignored), the
	/// request stream reset from draft-17 on.
	#[tokio::test(start_paused = true)]
	async fn a_fetch_nobody_waits_for_is_given_up() {
		for draft in DRAFTS {
			let mut harness = Harness::start(draft);
			let group = harness.fetch();
			let asked = harness.asked().await;
			drop(group);
			match asked {
				Asked::Control(id) => {
					let cancel = tokio::time::timeout(Duration::from_secs(3), harness.control.recv()).await;
					let cancel = cancel.expect("FETCH_CANCEL within 3 s").map(|m| *m);
					assert_eq!(cancel, Some(ControlMessage::FetchCancel(id)), "{draft}");
					// The publisher's answer crossed the cancel: ignored. An answer to a FETCH the
					// relay never sent (a Request ID not yet used, one of the peer's parity) is a
					// protocol violation.
					let ok = |id: u64| {
						ControlMessage::FetchOk(FetchOk {
							request_id: VarInt::from_u64(id).unwrap(),
							group_order: GroupOrder::Ascending,
							end_of_track: false,
							end: Location::new(VarInt::from_u32(6), VarInt::ZERO),
							parameters: Parameters::default(),
							extensions: Vec::new(),
						})
					};
					let late = super::super::handle(&harness.shared, ok(id.into_inner())).await;
					assert_eq!(late, Ok(()), "{draft}");
					for never in [id.into_inner() + 2, id.into_inner() + 1] {
						let violation = super::super::handle(&harness.shared, ok(never)).await;
						assert_eq!(
							violation.map_err(|v| v.0),
							Err(termination::PROTOCOL_VIOLATION),
							"{draft}"
						);
					}
				}
				Asked::Stream(_, _, mut reader) => {
					let reset = tokio::time::timeout(Duration::from_secs(3), reader.decode::<RequestMessage, _>(draft));
					let reset = reset.await.expect("a reset within 3 s");
					assert!(
						matches!(reset, Err(StreamError::Transport(TransportError::Reset(_)))),
						"{draft}: {reset:?}"
					);
				}
			}
		}
	}
}
