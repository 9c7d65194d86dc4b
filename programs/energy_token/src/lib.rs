//! GridTokenX energy token: the GRID SPL mint (3 decimals: 1 GRID = 1 kWh, 1 base unit =
//! 1 Wh), whose mint authority is this program's PDA `["mint_authority"]`.
//!
//! GRID is minted only by `mint_from_production`, which requires the registry's PDA
//! `["minter"]` as signer — a signature only the registry program can produce, when it
//! settles metered surplus.
#![no_std]

pub mod instructions;
pub mod interface;

use gtx_common::{CommonError, Context};
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use interface::{ix, Error};

/// GRID decimals: one base unit is one watt-hour.
pub const DECIMALS: u8 = 3;

impl From<Error> for ProgramError {
    fn from(e: Error) -> Self {
        ProgramError::Custom(e as u32)
    }
}

#[cfg(any(target_os = "solana", target_arch = "bpf"))]
mod entry {
    // Bounded account array keeps the entrypoint frame small (4 KiB SBPF stack frames);
    // no instruction takes more than 6 + 2 x 16 accounts.
    pinocchio::program_entrypoint!(super::process_instruction, 64);
    pinocchio::no_allocator!();
    pinocchio::nostd_panic_handler!();
}

pub fn process_instruction(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let Some(discriminator) = data.get(..8) else {
        return Err(CommonError::UnknownInstruction.into());
    };
    match discriminator {
        d if d == ix::mint_from_production::DISCRIMINATOR => instructions::mint_from_production::process(Context { program_id, accounts, data }),
        d if d == ix::burn::DISCRIMINATOR => instructions::burn::process(Context { program_id, accounts, data }),
        d if d == ix::initialize::DISCRIMINATOR => instructions::initialize::process(Context { program_id, accounts, data }),
        _ => Err(CommonError::UnknownInstruction.into()),
    }
}
