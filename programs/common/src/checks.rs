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
