//! GridTokenX energy token: the GRID SPL mint (3 decimals: 1 GRID = 1 kWh, 1 base unit =
//! 1 Wh), whose mint authority is this program's PDA `["mint_authority"]`.
//!
//! GRID is minted only by `mint_from_production`, which requires the registry's PDA
//! `["minter"]` as signer — a signature only the registry program can produce, when it
//! settles metered surplus.
#![no_std]

pub mod dispatch;
pub mod instructions;
pub mod interface;

/// GRID decimals: one base unit is one watt-hour.
pub const DECIMALS: u8 = 3;

pub use dispatch::process_instruction;

gtx_common::entrypoint!(crate::process_instruction);
