//! The one CPI through which the registry mints GRID: energy_token's
//! `mint_from_production(amounts)` to the given destinations, in order, signed by this
//! program's `["minter"]` PDA. `settle_and_mint` and `claim_production` both use it.

use gtx_common::{bytes, ids, CommonError};
use pinocchio::{
    cpi::{invoke_signed_with_bounds, Seed, Signer},
    instruction::{InstructionAccount, InstructionView},
    AccountView, ProgramResult,
};

use crate::energy_token_interface::ix::mint_from_production as mint_ix;
use crate::interface::{seeds, Error};

/// Most destinations one CPI mints to (the registry's settle batch).
pub const MAX_DESTINATIONS: usize = 16;
const CPI_FIXED: usize = mint_ix::ACCOUNTS;
const CPI_MAX: usize = CPI_FIXED + MAX_DESTINATIONS;

/// The accounts every mint CPI needs, in the order the registry's instructions list them.
pub struct MintAccounts<'a> {
    pub registry_minter: &'a AccountView,
    pub token_config: &'a AccountView,
    pub mint: &'a AccountView,
    pub mint_authority: &'a AccountView,
    pub token_program: &'a AccountView,
    pub energy_token_program: &'a AccountView,
}

/// The minter PDA and the energy_token program are the expected ones (energy_token
/// checks its own config, mint, mint authority and token program).
#[inline(always)]
pub fn check(registry_minter: &AccountView, energy_token_program: &AccountView) -> ProgramResult {
    if registry_minter.address().as_ref() != ids::registry::MINTER {
        return Err(CommonError::InvalidPda.into());
    }
    if energy_token_program.address().as_ref() != ids::energy_token::ID {
        return Err(Error::InvalidEnergyTokenProgram.into());
    }
    Ok(())
}

/// What one CPI mints: `amounts[k]` to the account at index `destinations[k]`, k < `count`.
pub struct MintBatch {
    pub amounts: [u64; MAX_DESTINATIONS],
    pub destinations: [usize; MAX_DESTINATIONS],
    pub count: usize,
}

impl MintAccounts<'_> {

    /// Mint `batch.amounts[k]` to `accounts[batch.destinations[k]]` for k < `batch.count`
    /// (1 to 16) in one CPI.
    pub fn mint(&self, accounts: &[AccountView], batch: &MintBatch) -> ProgramResult {
        let count = batch.count;
        let mut data = [0u8; mint_ix::arg::MIN_LEN + 8 * MAX_DESTINATIONS];
        bytes::write(&mut data, 0, &mint_ix::DISCRIMINATOR);
        bytes::write_u32(&mut data, mint_ix::arg::AMOUNTS_WH, count as u32);
        for (k, amount) in batch.amounts[..count].iter().enumerate() {
            bytes::write_u64(&mut data, mint_ix::arg::MIN_LEN + 8 * k, *amount);
        }
        let minter = self.registry_minter;
        let fixed = [
            InstructionAccount::readonly_signer(minter.address()),
            InstructionAccount::writable(self.token_config.address()),
            InstructionAccount::writable(self.mint.address()),
            InstructionAccount::readonly(self.mint_authority.address()),
            InstructionAccount::readonly(self.token_program.address()),
        ];
        let metas: [InstructionAccount; CPI_MAX] = core::array::from_fn(|k| {
            if k < CPI_FIXED {
                fixed[k].clone()
            } else if k - CPI_FIXED < count {
                InstructionAccount::writable(accounts[batch.destinations[k - CPI_FIXED]].address())
            } else {
                InstructionAccount::readonly(minter.address())
            }
        });
        let views: [&AccountView; CPI_MAX] = core::array::from_fn(|k| match k {
            0 => minter,
            1 => self.token_config,
            2 => self.mint,
            3 => self.mint_authority,
            4 => self.token_program,
            _ if k - CPI_FIXED < count => &accounts[batch.destinations[k - CPI_FIXED]],
            _ => minter,
        });
        let n = CPI_FIXED + count;
        let instruction = InstructionView {
            program_id: self.energy_token_program.address(),
            data: &data[..mint_ix::arg::MIN_LEN + 8 * count],
            accounts: &metas[..n],
        };
        let bump = [ids::registry::MINTER_BUMP];
        let signer_seeds = [Seed::from(seeds::MINTER), Seed::from(&bump)];
        invoke_signed_with_bounds::<CPI_MAX, &AccountView>(&instruction, &views[..n], &[Signer::from(&signer_seeds)])
    }
}
