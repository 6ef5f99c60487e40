//! The store's one connection to Redis: a multiplexed `redis` connection shared by every operation,
//! opened on first use and replaced after any failure.
//!
//! Unlike `redis::aio::ConnectionManager`, nothing is retried in the background and a failed
//! handshake (a wrong password, an untrusted certificate) is not kept: each operation that finds no
//! connection makes one attempt, and the caller bounds it in time.

use std::sync::Mutex;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError};

/// A connection and the number it was opened under, so that a failure forgets only that one.
pub(super) type Numbered = (u64, MultiplexedConnection);

pub(super) struct Link {
	client: Client,
	current: Mutex<Option<Numbered>>,
	/// Held while connecting, so that concurrent operations wait for one handshake; counts them.
	opened: tokio::sync::Mutex<u64>,
}

impl Link {
	pub(super) fn new(client: Client) -> Self {
		Self {
			client,
			current: Mutex::default(),
			opened: tokio::sync::Mutex::default(),
		}
	}

	pub(super) fn client(&self) -> &Client {
		&self.client
	}

	/// The current connection, or a new one.
	pub(super) async fn get(&self, config: &AsyncConnectionConfig) -> Result<Numbered, RedisError> {
		if let Some(current) = self.current() {
			return Ok(current);
		}
		let mut opened = self.opened.lock().await;
		// Another operation may have connected while this one waited.
		if let Some(current) = self.current() {
			return Ok(current);
		}
		let conn = self.client.get_multiplexed_async_connection_with_config(config).await?;
		*opened += 1;
		let numbered = (*opened, conn);
		*self.slot() = Some(numbered.clone());
		Ok(numbered)
	}

	/// Drops connection `number` if it is still the current one: the next operation reconnects.
	pub(super) fn forget(&self, number: u64) {
		let mut slot = self.slot();
		if slot.as_ref().is_some_and(|(n, _)| *n == number) {
			*slot = None;
		}
	}

	fn current(&self) -> Option<Numbered> {
		self.slot().clone()
	}

	fn slot(&self) -> std::sync::MutexGuard<'_, Option<Numbered>> {
		self.current.lock().unwrap_or_else(|p| p.into_inner())
	}
}
