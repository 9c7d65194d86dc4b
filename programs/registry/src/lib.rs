//! GridTokenX registry: users, meters and their device keys.
//!
//! Anchor-compatible: instructions are selected by `sha256("global:<name>")[:8]`,
//! accounts start with `sha256("account:<Name>")[:8]`, and the IDL in programs/idl/
//! is generated from the same interface.toml as `interface.rs`.
#![no_std]

pub mod instructions;
pub mod interface;

use gtx_common::CommonError;
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use interface::{ix, Error};

impl From<Error> for ProgramError {
    fn from(e: Error) -> Self {
        ProgramError::Custom(e as u32)
    }
}

#[cfg(any(target_os = "solana", target_arch = "bpf"))]
mod entry {
    pinocchio::program_entrypoint!(super::process_instruction);
    pinocchio::no_allocator!();
    pinocchio::nostd_panic_handler!();
}

pub fn process_instruction(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let Some(discriminator) = data.get(..8) else {
        return Err(CommonError::UnknownInstruction.into());
    };
    match discriminator {
        d if d == ix::initialize::DISCRIMINATOR => instructions::initialize::process(program_id, accounts, data),
        d if d == ix::register_user::DISCRIMINATOR => instructions::register_user::process(program_id, accounts, data),
        d if d == ix::register_meter::DISCRIMINATOR => instructions::register_meter::process(program_id, accounts, data),
        _ => Err(CommonError::UnknownInstruction.into()),
    }
}
