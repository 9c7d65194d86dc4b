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
pub mod ids;
pub mod math;
pub mod pda;
pub mod sysvar;
pub mod token;

pub use errors::CommonError;
use pinocchio::error::ProgramError;

impl From<CommonError> for ProgramError {
    fn from(e: CommonError) -> Self {
        ProgramError::Custom(e as u32)
    }
}

/// What an instruction handler receives, in one argument: SBPF calls take at most five
/// arguments, and keeping handlers out of line (`#[inline(never)]`) keeps each one's stack
/// frame separate from the entrypoint's.
pub struct Context<'a> {
    pub program_id: &'a pinocchio::Address,
    pub accounts: &'a mut [pinocchio::AccountView],
    pub data: &'a [u8],
}

/// Declare the program entrypoint (SBPF targets only): `process` receives every
/// instruction; at most 64 accounts are deserialized, which keeps the entrypoint's stack
/// frame small; no heap allocator; panics abort with their location logged.
#[macro_export]
macro_rules! entrypoint {
    ($process:path) => {
        #[cfg(any(target_os = "solana", target_arch = "bpf"))]
        mod __gtx_entrypoint {
            pinocchio::program_entrypoint!($process, 64);
            pinocchio::no_allocator!();
            pinocchio::nostd_panic_handler!();
        }
    };
}
