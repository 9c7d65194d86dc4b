//! GridTokenX trading: an order book for GRID (1 base unit = 1 Wh) against one SPL payment
//! token per market, with escrow and atomic batch settlement.
//!
//! Orders escrow what they offer in market-owned vaults (GRID for asks, payment for bids);
//! an off-chain matcher proposes fills and `settle_fills` applies a batch of them
//! atomically, enforcing every order's limit price, remaining size, expiry and owner
//! on-chain. Transfers to the same destination within a batch are netted into one CPI.
//!
//! Anchor-compatible: instructions are selected by `sha256("global:<name>")[:8]`,
//! accounts start with `sha256("account:<Name>")[:8]`, and the IDL in programs/idl/
//! is generated from the same interface.toml as `interface.rs` and `dispatch.rs`.
#![no_std]

pub mod dispatch;
pub mod instructions;
pub mod interface;

pub use dispatch::process_instruction;

/// Fills per `settle_fills` call. Four accounts per fill after six fixed ones; a
/// transaction may repeat accounts (one ask against many bids), so the entrypoint
/// deserializes up to `6 + 4 * MAX_FILLS` of them.
pub const MAX_FILLS: usize = 48;
const MAX_ACCOUNTS: usize = 6 + 4 * MAX_FILLS;

// Not `gtx_common::entrypoint!`: that one stops at 64 accounts, fewer than a full batch.
#[cfg(any(target_os = "solana", target_arch = "bpf"))]
mod entry {
    pinocchio::program_entrypoint!(crate::process_instruction, { crate::MAX_ACCOUNTS });
    pinocchio::no_allocator!();
    pinocchio::nostd_panic_handler!();
}
