//! Trader balances held inside a market, and the one rule for where funds come from and
//! go to.
//!
//! A balance account (PDA `["balance", market, owner]`) records GRID and payment units the
//! owner has in the market's vaults outside any order. Funds enter it by `deposit` or as
//! proceeds and refunds, and leave it only by the owner's signature: `withdraw` to the
//! owner's token account, or `place_order` into the owner's own order. Crediting a balance
//! is a write to an account the transaction already holds, where paying a token account is
//! a token-program CPI (4,645 CU inside classic SPL Token's Transfer alone).

use gtx_common::{bytes, token, CommonError};
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::interface::{state::balance as bal, Error};

/// Which of a balance's two amounts a transfer concerns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    Grid,
    Payment,
}

impl Asset {
    #[inline(always)]
    fn offset(self) -> usize {
        if self == Asset::Grid { bal::GRID_WH } else { bal::PAYMENT }
    }
}

/// What holds an owner's funds outside an order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// A token account of the asset's mint owned by the owner: paid by a token transfer.
    Token,
    /// The owner's balance account in this market: credited or debited in place.
    Balance,
}

/// The holder kind of `account`, checked to be `owner`'s account for `mint` (a token
/// account) or for this market (a balance account); `InvalidTokenAccount` otherwise.
#[inline(always)]
pub fn holder(
    account: &AccountView,
    program_id: &Address,
    market_key: &[u8; 32],
    mint: &[u8; 32],
    owner: &[u8; 32],
) -> Result<Holder, ProgramError> {
    if account.owned_by(&token::TOKEN_PROGRAM_ID) {
        // SAFETY: read-only peek; no mutable borrow of this account is live.
        let d = unsafe { account.borrow_unchecked() };
        if d.len() == token::ACCOUNT_LEN && d[0..32] == mint[..] && d[32..64] == owner[..] {
            return Ok(Holder::Token);
        }
    } else if is_balance_of(account, program_id, market_key, owner) {
        return Ok(Holder::Balance);
    }
    Err(Error::InvalidTokenAccount.into())
}

/// A balance account of this program for `market_key` and `owner`.
#[inline(always)]
pub fn is_balance_of(account: &AccountView, program_id: &Address, market_key: &[u8; 32], owner: &[u8; 32]) -> bool {
    if !account.owned_by(program_id) {
        return false;
    }
    // SAFETY: read-only peek; no mutable borrow of this account is live.
    let d = unsafe { account.borrow_unchecked() };
    d.len() == bal::LEN
        && d[..8] == bal::DISCRIMINATOR
        && d[bal::MARKET..bal::MARKET + 32] == market_key[..]
        && d[bal::OWNER..bal::OWNER + 32] == owner[..]
}

/// Add `amount` of `asset` to a checked balance account; the new amount.
#[inline(always)]
pub fn credit(mut account: AccountView, asset: Asset, amount: u64) -> Result<u64, ProgramError> {
    let mut d = account.try_borrow_mut()?;
    let v = bytes::read_u64(&d, asset.offset()).checked_add(amount).ok_or(CommonError::ArithmeticOverflow)?;
    bytes::write_u64(&mut d, asset.offset(), v);
    Ok(v)
}

/// Take `amount` of `asset` from a checked balance account (`InsufficientBalance` when it
/// holds less); the new amount.
#[inline(always)]
pub fn debit(mut account: AccountView, asset: Asset, amount: u64) -> Result<u64, ProgramError> {
    let mut d = account.try_borrow_mut()?;
    let v = bytes::read_u64(&d, asset.offset()).checked_sub(amount).ok_or(Error::InsufficientBalance)?;
    bytes::write_u64(&mut d, asset.offset(), v);
    Ok(v)
}

/// Write a new balance account's fixed fields (its amounts start at zero).
#[inline(always)]
pub fn init(mut account: AccountView, market_key: &[u8; 32], owner: &[u8; 32]) -> ProgramResult {
    let mut d = account.try_borrow_mut()?;
    bytes::write(&mut d, 0, &bal::DISCRIMINATOR);
    bytes::write(&mut d, bal::MARKET, market_key);
    bytes::write(&mut d, bal::OWNER, owner);
    Ok(())
}

/// Log `BalanceChanged` for a deposit or a withdrawal.
#[inline(always)]
pub fn emit_change(market_key: &[u8; 32], owner: &[u8; 32], mint: &[u8; 32], deposited: u64, withdrawn: u64, now: u64) {
    use crate::interface::events::balance_changed as ev;
    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::MARKET, market_key);
    bytes::write(&mut e, ev::OWNER, owner);
    bytes::write(&mut e, ev::MINT, mint);
    bytes::write_u64(&mut e, ev::DEPOSITED, deposited);
    bytes::write_u64(&mut e, ev::WITHDRAWN, withdrawn);
    bytes::write_u64(&mut e, ev::BALANCE, now);
    gtx_common::event::emit(&e);
}
