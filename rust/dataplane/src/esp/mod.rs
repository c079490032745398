//! ESP (RFC 4303) security associations, the SAD and the SPD.
//!
//! Packet-path order in [`Sa::decrypt_into`] (STYLE §3, RFC 4303 §3.4): locate ESP → SPI →
//! anti-replay pre-check (with ESN high bits inferred, Appendix A2) → ICV check / AEAD open →
//! padding check → only then mark the replay window and count. Every error leaves the SA as it
//! was (apart from its per-reason drop counter).

mod error;
pub(crate) mod ip;
pub mod replay;
mod sa;
mod sad;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

pub use error::EspError;
pub use ip::IpVersion;
pub use sa::{
    Algorithm, Batch, Full, Mode, RxOnly, Sa, SaConfig, SaCore, SaCounters, SaState, TxOnly,
    MAX_OVERHEAD,
};
pub use sad::{PacketSelectors, Sad, Selector, Spd, SpdAction};
