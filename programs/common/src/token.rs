//! SPL Token account checks (classic SPL Token program; layouts are fixed by it).

use pinocchio::{error::ProgramError, AccountView, Address};

/// The SPL Token program id (TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA).
pub const TOKEN_PROGRAM_ID: Address = Address::new_from_array([
    6, 221, 246, 225, 215, 101, 161, 147, 217, 203, 225, 70, 206, 235, 121, 172, 28, 180, 133, 237, 95, 91, 55, 145,
    58, 140, 245, 133, 126, 255, 0, 169,
]);

/// Size of an SPL Token account; the mint is bytes 0..32 and the owner 32..64.
pub const ACCOUNT_LEN: usize = 165;

/// A token account of `mint` owned by `owner` (checks program, size, mint and owner).
pub fn account_of(account: &AccountView, mint: &[u8; 32], owner: &[u8; 32]) -> Result<(), ProgramError> {
    if !account.owned_by(&TOKEN_PROGRAM_ID) {
        return Err(ProgramError::InvalidAccountOwner);
    }
    // SAFETY: read-only peek; no mutable borrow of this account is live.
    let d = unsafe { account.borrow_unchecked() };
    if d.len() != ACCOUNT_LEN || d[0..32] != mint[..] || d[32..64] != owner[..] {
        return Err(ProgramError::InvalidAccountData);
    }
    Ok(())
}
