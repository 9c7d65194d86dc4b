//! Account and instruction-data checks, each returning the shared typed error.

use pinocchio::{error::ProgramError, AccountView, Address};

use crate::CommonError;

/// The system program's address (all zeros).
pub const SYSTEM_PROGRAM_ID: Address = Address::new_from_array([0u8; 32]);

#[inline(always)]
pub fn signer(a: &AccountView) -> Result<(), ProgramError> {
    if a.is_signer() { Ok(()) } else { Err(CommonError::MissingSignature.into()) }
}

#[inline(always)]
pub fn writable(a: &AccountView) -> Result<(), ProgramError> {
    if a.is_writable() { Ok(()) } else { Err(CommonError::AccountNotWritable.into()) }
}

#[inline(always)]
pub fn system_program(a: &AccountView) -> Result<(), ProgramError> {
    if a.address() == &SYSTEM_PROGRAM_ID { Ok(()) } else { Err(CommonError::InvalidSystemProgram.into()) }
}

/// Instruction data must be exactly the layout's length.
#[inline(always)]
pub fn data_len(data: &[u8], len: usize) -> Result<(), ProgramError> {
    if data.len() == len { Ok(()) } else { Err(CommonError::InvalidInstructionData.into()) }
}

/// At least `n` accounts were passed.
#[inline(always)]
pub fn accounts(accounts: &[AccountView], n: usize) -> Result<(), ProgramError> {
    if accounts.len() >= n { Ok(()) } else { Err(CommonError::NotEnoughAccounts.into()) }
}

/// An existing program account of the given type: owner, size and discriminator.
#[inline(always)]
pub fn program_account(
    a: &AccountView,
    program_id: &Address,
    discriminator: &[u8; 8],
    len: usize,
) -> Result<(), ProgramError> {
    if !a.owned_by(program_id) {
        return Err(CommonError::InvalidAccountOwner.into());
    }
    // SAFETY: read-only peek at the discriminator; no mutable borrow is live here.
    let data = unsafe { a.borrow_unchecked() };
    if data.len() != len || data[..8] != discriminator[..] {
        return Err(CommonError::InvalidAccountData.into());
    }
    Ok(())
}

/// The upgradeable BPF loader (BPFLoaderUpgradeab1e11111111111111111111111).
pub const UPGRADEABLE_LOADER_ID: Address = Address::new_from_array([
    2, 168, 246, 145, 78, 136, 161, 176, 226, 16, 21, 62, 247, 99, 174, 43, 0, 194, 185, 61, 22, 193, 36, 210, 192,
    83, 122, 16, 4, 128, 0, 0,
]);

/// `signer` is the upgrade authority recorded in `program_data`, the program's ProgramData
/// account (`expected`, the PDA `[program id]` of the upgradeable loader). Its data is
/// bincode `UpgradeableLoaderState::ProgramData { slot: u64, upgrade_authority_address:
/// Option<Pubkey> }`: tag 3 (u32), slot, 1 for Some, the authority, then the ELF. A program
/// whose authority was removed (immutable) cannot be initialized this way either.
#[inline(always)]
pub fn upgrade_authority(program_data: &AccountView, expected: &[u8; 32], signer: &AccountView) -> Result<(), ProgramError> {
    if program_data.address().as_ref() != expected || !program_data.owned_by(&UPGRADEABLE_LOADER_ID) {
        return Err(CommonError::NotUpgradeAuthority.into());
    }
    // SAFETY: read-only peek; the loader's account is never borrowed mutably here.
    let d = unsafe { program_data.borrow_unchecked() };
    if d.len() < 45 || d[0..4] != [3, 0, 0, 0] || d[12] != 1 || d[13..45] != signer.address().as_ref()[..] {
        return Err(CommonError::NotUpgradeAuthority.into());
    }
    Ok(())
}
