//! Shared building blocks of the GridTokenX programs.
//!
//! Only what pinocchio does not offer on this target: account checks that return the
//! shared typed errors, rent-exempt PDA creation that tolerates pre-funded addresses,
//! the clock and rent sysvars read through their syscalls (pinocchio's `Sysvar::get`
//! is unavailable on `bpfel`), little-endian field access and Anchor-style events.
#![no_std]

pub mod bytes;
pub mod checks;
pub mod errors;
pub mod event;
pub mod math;
pub mod pda;
pub mod sysvar;

pub use errors::CommonError;
use pinocchio::error::ProgramError;

impl From<CommonError> for ProgramError {
    fn from(e: CommonError) -> Self {
        ProgramError::Custom(e as u32)
    }
}
