//! The moq-lite family (`docs/protocol.md`): lite-03, -04, -05 and -06.

mod announce;
mod dialect;
mod subscription;

pub use announce::{AnnounceMessage, Ignored, Inbound, InboundAction, InboundPolicy, Outbound, Refusal};
pub use dialect::Dialect;
pub use subscription::{Finish, GroupDecision, Subscription};
