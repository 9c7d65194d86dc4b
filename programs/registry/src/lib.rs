//! GridTokenX registry: users, meters and their device keys, the oracle's readings, and
//! settlement of net generation into GRID (through energy_token).
//!
//! Anchor-compatible: instructions are selected by `sha256("global:<name>")[:8]`,
//! accounts start with `sha256("account:<Name>")[:8]`, and the IDL in programs/idl/
//! is generated from the same interface.toml as `interface.rs`.
#![no_std]

pub mod instructions;
pub mod interface;

/// energy_token's generated interface (for the settle_and_mint CPI), included by path:
/// depending on the energy_token crate would link its entrypoint and panic handler twice.
#[path = "../../energy_token/src/interface.rs"]
pub mod energy_token_interface;

use gtx_common::{CommonError, Context};
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use interface::{ix, Error};

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
        d if d == ix::initialize::DISCRIMINATOR => instructions::initialize::process(Context { program_id, accounts, data }),
        d if d == ix::register_user::DISCRIMINATOR => instructions::register_user::process(Context { program_id, accounts, data }),
        d if d == ix::register_meter::DISCRIMINATOR => instructions::register_meter::process(Context { program_id, accounts, data }),
        d if d == ix::submit_readings::DISCRIMINATOR => instructions::submit_readings::process(Context { program_id, accounts, data }),
        d if d == ix::settle_and_mint::DISCRIMINATOR => instructions::settle_and_mint::process(Context { program_id, accounts, data }),
        d if d == ix::rotate_meter_key::DISCRIMINATOR => instructions::rotate_meter_key::process(Context { program_id, accounts, data }),
        d if d == ix::deactivate_meter::DISCRIMINATOR => instructions::deactivate_meter::process(Context { program_id, accounts, data }),
        _ => Err(CommonError::UnknownInstruction.into()),
    }
}
