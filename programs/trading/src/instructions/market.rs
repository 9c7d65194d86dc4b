//! The market account as instructions read it, and the PDA signature its vaults obey.

use gtx_common::{bytes, checks, ids, token};
use pinocchio::{
    cpi::{Seed, Signer},
    error::ProgramError,
    AccountView, Address, ProgramResult,
};

use super::balance::Asset;
use crate::interface::{seeds, state::market as mkt, Error};

/// The fields of a market that instructions need, copied out of the account so no borrow
/// stays open across CPIs.
pub struct Market {
    pub authority: [u8; 32],
    pub matcher: [u8; 32],
    pub payment_mint: [u8; 32],
    pub grid_vault: [u8; 32],
    pub payment_vault: [u8; 32],
    pub fee_account: [u8; 32],
    pub fee_bps: u64,
    pub lot_size_wh: u64,
    pub tick_size: u64,
    pub auction_slot_secs: u32,
    pub bump: u8,
}

impl Market {
    /// Read a market owned by this program (owner, size and discriminator checked).
    #[inline(always)]
    pub fn load(account: &AccountView, program_id: &Address) -> Result<Market, ProgramError> {
        checks::program_account(account, program_id, &mkt::DISCRIMINATOR, mkt::LEN)?;
        // SAFETY: read-only copy of the fields; no mutable borrow of the market is live.
        let d = unsafe { account.borrow_unchecked() };
        Ok(Market {
            authority: bytes::array(d, mkt::AUTHORITY),
            matcher: bytes::array(d, mkt::MATCHER),
            payment_mint: bytes::array(d, mkt::PAYMENT_MINT),
            grid_vault: bytes::array(d, mkt::GRID_VAULT),
            payment_vault: bytes::array(d, mkt::PAYMENT_VAULT),
            fee_account: bytes::array(d, mkt::FEE_ACCOUNT),
            fee_bps: u16::from_le_bytes(bytes::array(d, mkt::FEE_BPS)) as u64,
            lot_size_wh: bytes::read_u64(d, mkt::LOT_SIZE_WH),
            tick_size: bytes::read_u64(d, mkt::TICK_SIZE),
            auction_slot_secs: bytes::read_u32(d, mkt::AUCTION_SLOT_SECS),
            bump: d[mkt::BUMP],
        })
    }

    /// The vault that escrows what an order of `side` offers: GRID for asks, payment for bids.
    #[inline(always)]
    pub fn vault_for(&self, side: u8) -> &[u8; 32] {
        if side == super::ASK { &self.grid_vault } else { &self.payment_vault }
    }

    /// The vault of an asset.
    #[inline(always)]
    pub fn vault_of(&self, asset: Asset) -> &[u8; 32] {
        if asset == Asset::Grid { &self.grid_vault } else { &self.payment_vault }
    }

    /// Which asset a token account of `owner` holds (GRID or this market's payment mint),
    /// and its mint; `InvalidTokenAccount` for any other account.
    #[inline(always)]
    pub fn asset_of(&self, account: &AccountView, owner: &[u8; 32]) -> Result<(Asset, [u8; 32]), ProgramError> {
        if account.owned_by(&token::TOKEN_PROGRAM_ID) && account.data_len() == token::ACCOUNT_LEN {
            // SAFETY: read-only peek at the mint; no mutable borrow of the account is live.
            let mint: [u8; 32] = bytes::array(unsafe { account.borrow_unchecked() }, 0);
            let asset = if mint == ids::energy_token::GRID_MINT {
                Some(Asset::Grid)
            } else if mint == self.payment_mint {
                Some(Asset::Payment)
            } else {
                None
            };
            if let Some(asset) = asset {
                if token::account_of(account, &mint, owner).is_ok() {
                    return Ok((asset, mint));
                }
            }
        }
        Err(Error::InvalidTokenAccount.into())
    }

    /// Run `f` with the market PDA's signature (the vaults' owner).
    #[inline(always)]
    pub fn signed(&self, f: impl FnOnce(&[Signer]) -> ProgramResult) -> ProgramResult {
        let slot = self.auction_slot_secs.to_le_bytes();
        let bump = [self.bump];
        let seeds = [
            Seed::from(seeds::MARKET),
            Seed::from(&self.authority),
            Seed::from(&self.payment_mint),
            Seed::from(&slot),
            Seed::from(&bump),
        ];
        f(&[Signer::from(&seeds)])
    }
}
