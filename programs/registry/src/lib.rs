//! GridTokenX registry: users, meters and their device keys, the oracle's readings, and
//! settlement of net generation into GRID (through energy_token).
//!
//! Anchor-compatible: instructions are selected by `sha256("global:<name>")[:8]`,
//! accounts start with `sha256("account:<Name>")[:8]`, and the IDL in programs/idl/
//! is generated from the same interface.toml as `interface.rs`.
#![no_std]

pub mod dispatch;
pub mod instructions;
pub mod interface;

/// energy_token's generated interface (for the settle_and_mint CPI), included by path:
/// depending on the energy_token crate would link its entrypoint and panic handler twice.
#[path = "../../energy_token/src/interface.rs"]
pub mod energy_token_interface;

pub use dispatch::process_instruction;

gtx_common::entrypoint!(crate::process_instruction);
