//! QUIC transport protocol implementation
//!
//! [QUIC](https://en.wikipedia.org/wiki/QUIC) is a modern transport protocol addressing
//! shortcomings of TCP, such as head-of-line blocking, poor security, slow handshakes, and
//! inefficient congestion control. This crate provides a portable userspace implementation. It
//! builds on top of quinn-proto, which implements protocol logic independent of any particular
//! runtime.
//!
//! The entry point of this crate is the [`Endpoint`].
//!
//! # About QUIC
//!
//! A QUIC connection is an association between two endpoints. The endpoint which initiates the
//! connection is termed the client, and the endpoint which accepts it is termed the server. A
//! single endpoint may function as both client and server for different connections, for example
//! in a peer-to-peer application. To communicate application data, each endpoint may open streams
//! up to a limit dictated by its peer. Typically, that limit is increased as old streams are
//! finished.
//!
//! Streams may be unidirectional or bidirectional, and are cheap to create and disposable. For
//! example, a traditionally datagram-oriented application could use a new stream for every
//! message it wants to send, no longer needing to worry about MTUs. Bidirectional streams behave
//! much like a traditional TCP connection, and are useful for sending messages that have an
//! immediate response, such as an HTTP request. Stream data is delivered reliably, and there is no
//! ordering enforced between data on different streams.
//!
//! By avoiding head-of-line blocking and providing unified congestion control across all streams
//! of a connection, QUIC is able to provide higher throughput and lower latency than one or
//! multiple TCP connections between the same two hosts, while providing more useful behavior than
//! raw UDP sockets.
//!
//! Quinn also exposes unreliable datagrams, which are a low-level primitive preferred when
//! automatic fragmentation and retransmission of certain data is not desired.
//!
//! QUIC uses encryption and identity verification built directly on TLS 1.3. Just as with a TLS
//! server, it is useful for a QUIC server to be identified by a certificate signed by a trusted
//! authority. If this is infeasible--for example, if servers are short-lived or not associated
//! with a domain name--then as with TLS, self-signed certificates can be used to provide
//! encryption alone.
#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![warn(clippy::use_self)]

use std::sync::Arc;

mod connection;
mod endpoint;
mod incoming;
mod mutex;
mod recv_stream;
mod runtime;
mod send_stream;
mod work_limiter;

#[cfg(not(wasm_browser))]
pub(crate) use std::time::{Duration, Instant};
#[cfg(wasm_browser)]
pub(crate) use web_time::{Duration, Instant};

#[cfg(feature = "bloom")]
pub use proto::BloomTokenLog;
pub use proto::{
    AckFrequencyConfig, ApplicationClose, Chunk, ClientConfig, ClosedStream, ConfigError,
    ConnectError, ConnectionClose, ConnectionError, ConnectionId, ConnectionIdGenerator,
    ConnectionStats, Dir, EcnCodepoint, EndpointConfig, FrameStats, FrameType, IdleTimeout,
    MtuDiscoveryConfig, NoneTokenLog, NoneTokenStore, PathStats, ServerConfig, Side, StdSystemTime,
    StreamId, TimeSource, TokenLog, TokenMemoryCache, TokenReuseError, TokenStore, Transmit,
    TransportConfig, TransportErrorCode, UdpStats, ValidationTokenConfig, VarInt,
    VarIntBoundsExceeded, Written, congestion, crypto,
};
#[cfg(feature = "qlog")]
pub use proto::{QlogConfig, QlogStream};
#[cfg(any(feature = "rustls-aws-lc-rs", feature = "rustls-ring"))]
pub use rustls;
pub use udp;

pub use crate::connection::{
    AcceptBi, AcceptUni, Connecting, Connection, OpenBi, OpenUni, ReadDatagram, SendDatagram,
    SendDatagramError, ZeroRttAccepted,
};
pub use crate::endpoint::{Accept, Endpoint, EndpointStats};
pub use crate::incoming::{Incoming, IncomingFuture, RetryError};
pub use crate::recv_stream::{ReadError, ReadExactError, ReadToEndError, RecvStream, ResetError};
#[cfg(feature = "runtime-async-std")]
pub use crate::runtime::AsyncStdRuntime;
#[cfg(feature = "runtime-smol")]
pub use crate::runtime::SmolRuntime;
#[cfg(feature = "runtime-tokio")]
pub use crate::runtime::TokioRuntime;
pub use crate::runtime::{AsyncTimer, AsyncUdpSocket, Runtime, UdpPoller, default_runtime};
pub use crate::send_stream::{SendStream, StoppedError, WriteError};


#[derive(Debug)]
// PATCHED (moq-relay, vendor/quinn/PATCHED.md): the large variants are boxed. Each
// connection's event channel allocates its first block of 32 slots when the connection is made
// and keeps it for its life: 32 unboxed datagram events (~210 bytes each) are 6.7 KiB per
// connection, 32 slots of this enum under 1 KiB.
enum ConnectionEvent {
    Close {
        error_code: VarInt,
        reason: Box<bytes::Bytes>,
    },
    Proto(Box<proto::ConnectionEvent>),
    Rebind(Arc<dyn AsyncUdpSocket>),
}

// PATCHED (moq-relay, vendor/quinn/PATCHED.md): the datagrams an endpoint queues for one of its
// connections are bounded. The endpoint only reads a datagram's header to route it; the
// connection decrypts it, which costs more, so a peer that floods its own connection with
// datagrams it cannot decrypt made that queue, and the process's memory, grow as far as the
// connection fell behind (113-123 MiB for one connection within 2 s on loopback). Past the bound
// a datagram is dropped, as a full socket buffer drops it.
/// Datagrams queued for one connection before the endpoint drops what arrives for it, unless
/// the endpoint was given another bound (`Endpoint::set_max_queued_datagrams`).
const MAX_QUEUED_DATAGRAMS: usize = 1024;

/// The channel from an endpoint to one of its connections: the connection's end
/// ([`ConnectionEvents`]) and the endpoint's ([`ConnectionEventSender`]), sharing the count of
/// datagrams in it.
fn connection_events(max_datagrams: usize) -> (ConnectionEventSender, ConnectionEvents) {
    let (send, recv) = tokio::sync::mpsc::unbounded_channel();
    let datagrams = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    (
        ConnectionEventSender {
            send,
            datagrams: datagrams.clone(),
            max_datagrams,
        },
        ConnectionEvents { recv, datagrams },
    )
}

/// The endpoint's end of a connection's event channel.
#[derive(Debug)]
struct ConnectionEventSender {
    send: tokio::sync::mpsc::UnboundedSender<ConnectionEvent>,
    datagrams: Arc<std::sync::atomic::AtomicUsize>,
    /// The endpoint's bound when the connection was made.
    max_datagrams: usize,
}

impl ConnectionEventSender {
    /// Queues a close or a rebind; an error when the connection is gone.
    fn send(
        &self,
        event: ConnectionEvent,
    ) -> Result<(), tokio::sync::mpsc::error::SendError<ConnectionEvent>> {
        self.send.send(event)
    }

    /// Queues an event of a received datagram, or drops it when the bound's number wait
    /// ([`MAX_QUEUED_DATAGRAMS`] unless the endpoint was given another); whether it was queued.
    fn datagram(&self, event: proto::ConnectionEvent) -> bool {
        if self.datagrams.load(std::sync::atomic::Ordering::Relaxed) < self.max_datagrams {
            self.proto(event);
            true
        } else {
            false
        }
    }

    /// Queues a protocol event whatever waits (the endpoint's answer to the connection's own
    /// event), counted with the datagrams.
    fn proto(&self, event: proto::ConnectionEvent) {
        self.datagrams
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Ignoring errors from dropped connections that haven't yet been cleaned up
        let _ = self.send.send(ConnectionEvent::Proto(Box::new(event)));
    }
}

/// The connection's end of its event channel.
#[derive(Debug)]
struct ConnectionEvents {
    recv: tokio::sync::mpsc::UnboundedReceiver<ConnectionEvent>,
    datagrams: Arc<std::sync::atomic::AtomicUsize>,
}

impl ConnectionEvents {
    fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<ConnectionEvent>> {
        let polled = self.recv.poll_recv(cx);
        if let std::task::Poll::Ready(Some(ConnectionEvent::Proto(_))) = &polled {
            self.datagrams
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        polled
    }
}

fn udp_transmit<'a>(t: &proto::Transmit, buffer: &'a [u8]) -> udp::Transmit<'a> {
    udp::Transmit {
        destination: t.destination,
        ecn: t.ecn.map(udp_ecn),
        contents: buffer,
        segment_size: t.segment_size,
        src_ip: t.src_ip,
    }
}

fn udp_ecn(ecn: proto::EcnCodepoint) -> udp::EcnCodepoint {
    match ecn {
        proto::EcnCodepoint::Ect0 => udp::EcnCodepoint::Ect0,
        proto::EcnCodepoint::Ect1 => udp::EcnCodepoint::Ect1,
        proto::EcnCodepoint::Ce => udp::EcnCodepoint::Ce,
    }
}

/// Maximum number of datagrams processed in send/recv calls to make before moving on to other processing
///
/// This helps ensure we don't starve anything when the CPU is slower than the link.
/// Value is selected by picking a low number which didn't degrade throughput in benchmarks.
const IO_LOOP_BOUND: usize = 160;

/// The maximum amount of time that should be spent in `recvmsg()` calls per endpoint iteration
///
/// 50us are chosen so that an endpoint iteration with a 50us sendmsg limit blocks
/// the runtime for a maximum of about 100us.
/// Going much lower does not yield any noticeable difference, since a single `recvmmsg`
/// batch of size 32 was observed to take 30us on some systems.
const RECV_TIME_BOUND: Duration = Duration::from_micros(50);
