//! Program-derived addresses: verification and rent-exempt creation.

use pinocchio::{
    cpi::{Seed, Signer},
    error::ProgramError,
    AccountView, Address, ProgramResult,
};
use pinocchio_system::instructions::{Allocate, Assign, CreateAccount, Transfer};

use crate::{checks::SYSTEM_PROGRAM_ID, sysvar, CommonError};

/// Check that `account` is the canonical PDA of `seeds` and return its bump.
///
/// Canonical bumps matter: accepting any bump would let one wallet derive several
/// "user" addresses and register twice.
#[inline(always)]
pub fn canonical(account: &AccountView, seeds: &[&[u8]], program_id: &Address) -> Result<u8, ProgramError> {
    let (expected, bump) = Address::find_program_address(seeds, program_id);
    if account.address() != &expected {
        return Err(CommonError::InvalidPda.into());
    }
    Ok(bump)
}

/// Check that `account` is the PDA of `seeds`, whose last seed is a bump the caller
/// supplied: one address derivation, no search.
///
/// Only for addresses whose uniqueness does not rest on the bump being canonical (for
/// example when another seed is never reused): any bump that derives the address passes.
#[inline(always)]
pub fn with_bump(account: &AccountView, seeds: &[&[u8]], program_id: &Address) -> Result<(), ProgramError> {
    match Address::create_program_address(seeds, program_id) {
        Ok(expected) if account.address() == &expected => Ok(()),
        _ => Err(CommonError::InvalidPda.into()),
    }
}

/// A rent-exempt PDA to create: `target` (signed for by `seeds`) with `space` bytes owned
/// by `owner`, funded by `payer`. (A struct because SBPF calls take at most 5 arguments.)
pub struct NewAccount<'a, 'b> {
    pub payer: &'a AccountView,
    pub target: &'a AccountView,
    pub space: usize,
    pub owner: &'b Address,
    pub seeds: &'b [Seed<'b>],
}

impl NewAccount<'_, '_> {
    /// Create the account.
    ///
    /// An address someone pre-funded with lamports is still created (transfer the
    /// shortfall, allocate, assign) so a dust transfer cannot block a registration; an
    /// address that already holds data or belongs to a program is refused as existing.
    pub fn create(&self) -> ProgramResult {
        let (payer, target, space, owner) = (self.payer, self.target, self.space, self.owner);
        let rent = sysvar::rent_exempt_minimum(space)?;
        let signer = [Signer::from(self.seeds)];
        let current = target.lamports();
        if current == 0 {
            return CreateAccount { from: payer, to: target, lamports: rent, space: space as u64, owner }
                .invoke_signed(&signer);
        }
        if !target.owned_by(&SYSTEM_PROGRAM_ID) || target.data_len() != 0 {
            return Err(CommonError::AccountAlreadyExists.into());
        }
        if current < rent {
            Transfer { from: payer, to: target, lamports: rent - current }.invoke()?;
        }
        Allocate { account: target, space: space as u64 }.invoke_signed(&signer)?;
        Assign { account: target, owner }.invoke_signed(&signer)
    }
}
