//! GridTokenX certificates: renewable energy certificates (ERC) for metered production.
//!
//! A meter's owner asks for a certificate covering an interval of the meter's production;
//! the program checks the registry's meter account (owner, status, cumulative production,
//! last reading) and a per-meter tracker of the Wh already certified, so the same
//! generation is never certified twice. The issuer (governance) validates certificates,
//! holders transfer and retire them, the issuer or authority revokes them, and anyone
//! expires them once their validity has passed. README.md has the state machine.
//!
//! Anchor-compatible: instructions are selected by `sha256("global:<name>")[:8]`,
//! accounts start with `sha256("account:<Name>")[:8]`, and the IDL in programs/idl/
//! is generated from the same interface.toml as `interface.rs`.
#![no_std]

pub mod dispatch;
pub mod instructions;
pub mod interface;

/// The registry's generated interface (Meter layout), included by path: depending on the
/// registry crate would link its entrypoint and panic handler twice.
#[path = "../../registry/src/interface.rs"]
pub mod registry_interface;

pub use dispatch::process_instruction;

gtx_common::entrypoint!(crate::process_instruction);
