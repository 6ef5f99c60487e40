//! A soak publisher: one session announcing one broadcast, writing stamped frames at a fixed rate
//! and logging each group's times for the subscribers' accounting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use url::Url;

use super::errors::{ErrorKind, Errors};
use super::groups::GroupLog;
use crate::{Publisher, encode_frame, now_ns};

/// What every publisher sends.
#[derive(Debug, Clone, Copy)]
pub struct Load {
	/// Bytes per frame.
	pub frame_size: usize,
	/// Frames per second.
	pub fps: f64,
	/// Frames per group.
	pub group_frames: u64,
}

/// A running publisher.
pub struct SoakPublisher {
	publisher: Publisher,
	log: Arc<GroupLog>,
	stop: Arc<AtomicBool>,
	task: tokio::task::JoinHandle<()>,
}

impl SoakPublisher {
	/// Connects `client` to `url` announcing broadcast `name` (track `track`) and starts writing
	/// frames; a failure of the session or of a write later is recorded in `errors`.
	pub async fn start(
		client: moq_tokio::Client,
		url: Url,
		name: &str,
		track: &str,
		load: Load,
		errors: Arc<Errors>,
	) -> anyhow::Result<Self> {
		let publisher = tokio::time::timeout(Duration::from_secs(20), Publisher::start(client, url, name, track))
			.await
			.context("publisher connect timed out")??;
		let log = Arc::new(GroupLog::default());
		let stop = Arc::new(AtomicBool::new(false));
		let task = tokio::spawn({
			let (track, connection, log, stop) = (
				publisher.track().clone(),
				publisher.connection().clone(),
				log.clone(),
				stop.clone(),
			);
			let name = name.to_string();
			async move {
				if let Err(err) = send(track, connection, load, &log, &stop).await {
					errors.record(ErrorKind::PublisherFailed, 1, || format!("{name}: {err:#}"));
				}
			}
		});
		Ok(Self {
			publisher,
			log,
			stop,
			task,
		})
	}

	/// The groups sent so far.
	pub fn log(&self) -> Arc<GroupLog> {
		self.log.clone()
	}

	/// The negotiated version.
	pub fn version(&self) -> Option<String> {
		self.publisher.connection().version().map(|v| v.to_string())
	}

	/// Stops writing (the open group is finished) and closes the session.
	pub async fn stop(self) {
		self.stop.store(true, Ordering::Relaxed);
		let _ = self.task.await;
		self.publisher.close().await;
	}
}

/// Writes frames until `stop`; an error when a write fails or the session ends first.
async fn send(
	track: moq_net::track::Producer,
	connection: moq_tokio::Connection,
	load: Load,
	log: &GroupLog,
	stop: &AtomicBool,
) -> anyhow::Result<()> {
	let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / load.fps));
	interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
	let mut group: Option<(u64, moq_net::group::Producer)> = None;
	let mut index = 0;
	while !stop.load(Ordering::Relaxed) {
		tokio::select! {
			_ = interval.tick() => {}
			closed = connection.closed() => {
				anyhow::bail!("the session ended: {}", closed.err().map_or("closed".into(), |e| e.to_string()));
			}
		}
		let sent = now_ns();
		if index == load.group_frames || group.is_none() {
			if let Some((number, done)) = group.take() {
				done.finish().context("finish group")?;
				log.finish(number, sent);
			}
			group = Some((log.begin(sent), track.append_group().context("append group")?));
			index = 0;
		}
		let (number, open) = group.as_mut().expect("a group is open");
		open.write_frame(
			moq_net::Timestamp::now(),
			encode_frame(load.frame_size, sent, *number, index),
		)
		.context("write frame")?;
		log.frame(*number);
		index += 1;
	}
	if let Some((number, done)) = group.take() {
		done.finish().context("finish group")?;
		log.finish(number, now_ns());
	}
	Ok(())
}
