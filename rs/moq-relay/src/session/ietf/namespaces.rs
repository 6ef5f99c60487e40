//! Draft-16 (and draft-18) SUBSCRIBE_NAMESPACE streams: each is a bidirectional stream the peer opens with
//! SUBSCRIBE_NAMESPACE, answered on it with REQUEST_OK (or REQUEST_ERROR), then NAMESPACE for
//! every broadcast under the prefix the grant lets the peer see, now and as they start, and
//! NAMESPACE_DONE as they end, each as the suffix after the prefix. The peer ends it by closing
//! the stream (draft-16 has no UNSUBSCRIBE_NAMESPACE; from draft-19 on by a reset or
//! STOP_SENDING, its FIN only ending its updates). Draft-14 asks for the same on the control
//! stream (`serve::subscribe_namespace`).

use std::sync::Arc;

use moq_token::Path;
use tokio::task::JoinSet;

use super::{Shared, StreamError, io, new_request, request_error};
use crate::auth::Grant;
use crate::transport::{SendStream, Session};
use crate::wire::ietf::draft18::RequestMessage;
use crate::wire::ietf::{
	ControlMessage, Draft, RequestErrorCode, RequestOk, SubscribeNamespace, namespace_to_path, path_to_namespace,
	termination,
};
use crate::wire::{Disposition, StreamCode, VarInt};

/// Accepts the peer's bidirectional streams for as long as the session lives.
pub(super) async fn accept<S: Session>(shared: Arc<Shared<S>>) {
	let mut streams = JoinSet::new();
	loop {
		tokio::select! {
			bi = shared.transport.accept_bi() => match bi {
				Ok((send, recv)) => {
					streams.spawn(serve(shared.clone(), send, recv));
				}
				Err(_) => return,
			},
			Some(_) = streams.join_next(), if !streams.is_empty() => {}
		}
	}
}

/// One SUBSCRIBE_NAMESPACE stream, to its end.
async fn serve<S: Session>(shared: Arc<Shared<S>>, send: S::Send, recv: S::Recv) {
	let mut reader = io::DraftReader::new(recv, shared.ctx.limits.max_message);
	let request = match reader.expect::<ControlMessage, _>(shared.draft).await {
		Ok(ControlMessage::SubscribeNamespace(request)) => request,
		Ok(other) => {
			let reason = format!("{} opened a bidirectional stream", other.name());
			shared.close(termination::PROTOCOL_VIOLATION, &reason);
			return;
		}
		Err(StreamError::Transport(_)) => return,
		Err(err) => {
			let code = match err.disposition() {
				Disposition::CloseSession(code) => code,
				_ => termination::PROTOCOL_VIOLATION,
			};
			shared.close(code, &format!("SUBSCRIBE_NAMESPACE stream: {err}"));
			return;
		}
	};
	if let Err((code, reason)) = new_request(&shared, request.request_id).await {
		shared.close(code, &reason);
		return;
	}
	// Its AUTHORIZATION TOKENs, as on the control stream.
	let mut send = send;
	let grants = match super::request_tokens_verdict(&shared, request.parameters.auth_tokens()).await {
		Ok(Ok(grants)) => grants,
		Ok(Err((code, reason))) => {
			let _ = write(
				&shared,
				&mut send,
				&ControlMessage::RequestError(request_error(request.request_id, code, &reason)),
			)
			.await;
			let _ = send.finish();
			return;
		}
		Err((code, reason)) => {
			shared.close(code, &reason);
			return;
		}
	};
	run(shared, send, reader, request, grants).await;
}

/// A SUBSCRIBE_NAMESPACE stream whose request is read: answered, then watched until the peer
/// cancels it: by resetting its side or STOP_SENDING on every draft, by its FIN before draft-19
/// (from draft-19 on a FIN only says no REQUEST_UPDATE follows, "Graceful Request Stream
/// Closure"). Draft-18's SUBSCRIBE_NAMESPACE (0x50) streams run here too.
///
/// It shows what the session's grant lets the peer see, and what the grants of its verified
/// AUTHORIZATION TOKENs (`grants`) do; with such a token it ends (the relay's FIN) when the
/// earliest of those tokens expires or one of them is revoked (`docs/protocol.md`, "Request
/// tokens").
pub(super) async fn run<S: Session>(
	shared: Arc<Shared<S>>,
	mut send: S::Send,
	mut reader: io::DraftReader<S::Recv>,
	request: SubscribeNamespace,
	grants: Vec<Grant>,
) {
	let Some(prefix) = answer(&shared, &mut send, &request).await else {
		let _ = send.finish();
		return;
	};
	let draft = shared.draft;
	let tokens: Vec<Grant> = grants.into_iter().filter(|g| g.may_watch(&prefix)).collect();
	// What a token shows beyond the session's grant is known only as broadcasts come: any token
	// that can show something under the prefix is recorded.
	if let Some(token) = tokens.first() {
		shared
			.trail
			.token_granted(&shared.grant, token, crate::audit::Request::Watch, &prefix);
	}
	{
		// Until then, show what is under the prefix.
		let watched = async {
			match shared.grant.may_watch(&prefix) || !tokens.is_empty() {
				true => watch(&shared, &mut send, &prefix, &tokens).await,
				false => until_stopped(&mut send).await,
			}
		};
		tokio::pin!(watched);
		let token_end = super::serve::token_end(&shared, &tokens);
		tokio::pin!(token_end);
		let mut updates = true;
		loop {
			tokio::select! {
				_ = &mut watched => break,
				_ = &mut token_end => break,
				ended = next_message(&mut reader, draft), if updates => match ended {
					Ok(None) if draft.fin_keeps_requests() => updates = false,
					Ok(Some(name)) => {
						let reason = format!("{name} on a SUBSCRIBE_NAMESPACE stream");
						shared.close(termination::PROTOCOL_VIOLATION, &reason);
						break;
					}
					Ok(None) | Err(_) => break,
				},
			}
		}
	}
	reader.stop(StreamCode::CANCEL, draft);
	let _ = send.finish();
}

/// Waits for the peer's STOP_SENDING on `send` (or the session's end); never returns for a
/// stream whose peer can no longer stop it.
async fn until_stopped<W: SendStream>(send: &mut W) {
	if let Ok(None) = send.stopped().await {
		std::future::pending::<()>().await;
	}
}

/// REQUEST_OK with the prefix to watch, or REQUEST_ERROR: NOT_SUPPORTED for Subscribe Options
/// that ask for PUBLISH only (0x0) or are unknown (the relay sends NAMESPACE, never PUBLISH; 0x2
/// gets the namespaces alone), DOES_NOT_EXIST for a prefix that is no path.
async fn answer<S: Session>(shared: &Shared<S>, send: &mut S::Send, request: &SubscribeNamespace) -> Option<Path> {
	let id = request.request_id;
	let text = namespace_to_path(&request.prefix);
	let prefix = Path::new(&text)
		.ok()
		.filter(|_| text.len() <= shared.ctx.limits.max_path);
	let namespaces = matches!(request.options.map(VarInt::into_inner), Some(1 | 2));
	let reply = match &prefix {
		_ if !namespaces => ControlMessage::RequestError(request_error(
			id,
			RequestErrorCode::NOT_SUPPORTED,
			"the relay answers SUBSCRIBE_NAMESPACE with NAMESPACE only (Subscribe Options 0x1 or 0x2)",
		)),
		Some(_) => ControlMessage::RequestOk(RequestOk {
			request_id: id,
			parameters: Default::default(),
		}),
		None => ControlMessage::RequestError(request_error(
			id,
			RequestErrorCode::DOES_NOT_EXIST,
			"not a broadcast path prefix",
		)),
	};
	write(shared, send, &reply).await.ok()?;
	prefix.filter(|_| namespaces)
}

/// The name of the peer's next message on the stream, `None` at its end.
async fn next_message<R: crate::transport::RecvStream>(
	reader: &mut io::DraftReader<R>,
	draft: Draft,
) -> Result<Option<&'static str>, StreamError> {
	Ok(match draft {
		d if d.has_request_streams() => reader.decode::<RequestMessage, _>(draft).await?.map(|m| m.name()),
		_ => reader.decode::<ControlMessage, _>(draft).await?.map(|m| m.name()),
	})
}

async fn write<S: Session>(shared: &Shared<S>, send: &mut S::Send, message: &ControlMessage) -> Result<(), ()> {
	let bytes = super::requests::encode_answer(message, shared.draft).map_err(|_| ())?;
	io::write(send, &bytes).await.map_err(|_| ())
}

/// NAMESPACE / NAMESPACE_DONE for the broadcasts under `prefix` that the session's grant or one
/// of `tokens` lets the peer subscribe to, until the stream fails or the peer stops it.
async fn watch<S: Session>(shared: &Shared<S>, send: &mut S::Send, prefix: &Path, tokens: &[Grant]) {
	let absolute = shared.grant.absolute(prefix);
	let mut announced = shared.ctx.origin.announced(absolute);
	// The suffix after the prefix of a broadcast the peer may see.
	let suffix = |path: &Path| -> Option<Vec<String>> {
		let relative = path.strip_prefix(shared.grant.root())?;
		let visible = |grant: &Grant| grant.can_subscribe(&relative);
		if !visible(&shared.grant) && !tokens.iter().any(visible) {
			return None;
		}
		let suffix = relative.strip_prefix(prefix)?;
		Some(path_to_namespace(suffix.as_str()))
	};
	for (path, _) in announced.take_current() {
		if let Some(suffix) = suffix(&path)
			&& write(shared, send, &ControlMessage::Namespace(suffix)).await.is_err()
		{
			return;
		}
	}
	loop {
		let update = tokio::select! {
			update = announced.next() => update,
			() = until_stopped(send) => return,
		};
		let Some(update) = update else {
			return;
		};
		let Some(suffix) = suffix(&update.path) else {
			continue;
		};
		let message = match update.active {
			Some(_) => ControlMessage::Namespace(suffix),
			None => ControlMessage::NamespaceDone(suffix),
		};
		if write(shared, send, &message).await.is_err() {
			return;
		}
	}
}
