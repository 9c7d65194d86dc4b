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
/// supplied: one SHA-256 of the seeds, no bump search and no `create_program_address`
/// (1,500 CU).
///
/// Only for an address the instruction then signs for with the same seeds (creating the
/// account): the runtime derives a signer's address from its seeds, off-curve check
/// included, so an address on the curve still fails there. And only where uniqueness does
/// not rest on the bump being canonical (another seed is never reused): any bump that
/// derives the address passes.
#[inline(always)]
pub fn with_bump(account: &AccountView, seeds: &[&[u8]], program_id: &Address) -> Result<(), ProgramError> {
    match derive(seeds, program_id) {
        Some(expected) if account.address().as_array() == &expected => Ok(()),
        _ => Err(CommonError::InvalidPda.into()),
    }
}

const MAX_SEEDS: usize = 16;
const MAX_SEED_LEN: usize = 32;
const PDA_MARKER: &[u8] = b"ProgramDerivedAddress";

/// `sha256(seeds ++ program_id ++ "ProgramDerivedAddress")`, the address a PDA would have.
#[cfg(any(target_os = "solana", target_arch = "bpf"))]
#[inline(always)]
fn derive(seeds: &[&[u8]], program_id: &Address) -> Option<[u8; 32]> {
    if seeds.len() > MAX_SEEDS || seeds.iter().any(|s| s.len() > MAX_SEED_LEN) {
        return None;
    }
    let mut parts: [&[u8]; MAX_SEEDS + 2] = [&[]; MAX_SEEDS + 2];
    parts[..seeds.len()].copy_from_slice(seeds);
    parts[seeds.len()] = program_id.as_ref();
    parts[seeds.len() + 1] = PDA_MARKER;
    let mut hash = [0u8; 32];
    // SAFETY: `parts` holds `seeds.len() + 2` valid slice descriptors (ptr, len), the
    // layout `sol_sha256` reads; `hash` is the 32 bytes it writes.
    unsafe { pinocchio::syscalls::sol_sha256(parts.as_ptr() as *const u8, (seeds.len() + 2) as u64, hash.as_mut_ptr()) };
    Some(hash)
}

/// Off-chain (unit tests): the same derivation, through `create_program_address`.
#[cfg(not(any(target_os = "solana", target_arch = "bpf")))]
fn derive(seeds: &[&[u8]], program_id: &Address) -> Option<[u8; 32]> {
    let _ = (MAX_SEEDS, MAX_SEED_LEN, PDA_MARKER);
    Address::create_program_address(seeds, program_id).ok().map(|a| a.to_bytes())
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
