//! `settle_and_mint`: settle up to 16 meters and mint their exported energy as GRID.
//!
//! The mint rule (docs/mint-rule.md): a meter's GRID is its signed export since its
//! first reading, 1 Wh = 0.001 GRID; imports are the owner's consumption, bought on the
//! market, and are never netted against it. So the GRID of a meter is a function of its
//! counters alone, not of how readings were grouped into settlements.
//!
//! Accounts after the fixed six come in pairs: (meter, destination). The destination is
//! the owner's GRID token account — the amount is minted now — or the owner's `User`
//! account — the amount is added to `User.unclaimed_wh` in place, with no token CPI, and
//! `claim_production` mints it later in one MintTo for any number of settlements (what
//! brings a full batch under 3,000 CU per meter with classic SPL Token).
//! For each meter the amount settled is `total_production_wh - settled_production_wh`
//! when positive, and `settled_production_wh` becomes `total_production_wh`. Both only
//! rise, so a repeated call (a retry after a crash, say) mints nothing new: settlement is
//! idempotent and double minting impossible; the oracle can never have minted more than
//! the production counter it recorded.
//! The mints to token accounts go to energy_token in one CPI signed by this program's
//! `["minter"]` PDA (`mint_cpi`).

use gtx_common::{Context, bytes, checks, event, ids, token, CommonError};
use pinocchio::ProgramResult;

use super::meter_state::writable_meter;
use super::mint_cpi::{self, MintAccounts, MintBatch, MAX_DESTINATIONS};
use crate::interface::{events::production_settled as ev, ix::settle_and_mint as ixd, state::meter as mtr, state::user as usr, Error};

pub const MAX_METERS: usize = MAX_DESTINATIONS;

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let pairs = accounts.len() - ixd::ACCOUNTS;
    let count = pairs / 2;
    if pairs % 2 != 0 || count == 0 {
        return Err(CommonError::NotEnoughAccounts.into());
    }
    if count > MAX_METERS {
        return Err(Error::TooManyMeters.into());
    }
    mint_cpi::check(&accounts[ixd::account::REGISTRY_MINTER], &accounts[ixd::account::ENERGY_TOKEN_PROGRAM])?;

    // Settle every meter first; credit User accounts in place, remember token mints.
    let mut batch = MintBatch { amounts: [0u64; MAX_METERS], destinations: [0usize; MAX_METERS], count: 0 };
    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    for i in 0..count {
        let meter_index = ixd::ACCOUNTS + 2 * i;
        writable_meter(&accounts[meter_index], program_id)?;
        let (head, tail) = accounts.split_at_mut(meter_index + 1);
        let destination = &mut tail[0];
        checks::writable(destination)?;
        let mut d = head[meter_index].try_borrow_mut()?;
        let owner: [u8; 32] = bytes::array(&d, mtr::OWNER);
        // The owner's GRID token account, else the owner's User account of this registry.
        let to_user = token::account_of(destination, &ids::energy_token::GRID_MINT, &owner).is_err();
        if to_user {
            if !destination.owned_by(program_id) {
                return Err(Error::InvalidTokenAccount.into());
            }
            // SAFETY: read-only peek; the destination is a different account than the meter
            // (a meter's discriminator differs from a user's), no other borrow is live.
            let user = usr::View::new(unsafe { destination.borrow_unchecked() });
            if !user.is_some_and(|u| *u.wallet() == owner) {
                return Err(Error::InvalidTokenAccount.into());
            }
        }
        let production = bytes::read_u64(&d, mtr::TOTAL_PRODUCTION_WH);
        let settled = bytes::read_u64(&d, mtr::SETTLED_PRODUCTION_WH);
        if production <= settled {
            continue;
        }
        let amount = production - settled;
        bytes::write_u64(&mut d, mtr::SETTLED_PRODUCTION_WH, production);
        if to_user {
            // checked above: a User account of this registry (length, discriminator, wallet)
            let mut u = destination.try_borrow_mut()?;
            let unclaimed = bytes::read_u64(&u, usr::UNCLAIMED_WH).checked_add(amount).ok_or(CommonError::ArithmeticOverflow)?;
            bytes::write_u64(&mut u, usr::UNCLAIMED_WH, unclaimed);
        } else {
            batch.amounts[batch.count] = amount;
            batch.destinations[batch.count] = meter_index + 1;
            batch.count += 1;
        }
        bytes::write(&mut e, ev::METER_ID, &d[mtr::METER_ID..mtr::METER_ID + 32]);
        bytes::write(&mut e, ev::OWNER, &owner);
        bytes::write_u64(&mut e, ev::MINTED_WH, amount);
        bytes::write_u64(&mut e, ev::SETTLED_PRODUCTION_WH, production);
        event::emit(&e);
    }
    let accounts = &*accounts;
    let cpi = MintAccounts {
        registry_minter: &accounts[ixd::account::REGISTRY_MINTER],
        token_config: &accounts[ixd::account::TOKEN_CONFIG],
        mint: &accounts[ixd::account::MINT],
        mint_authority: &accounts[ixd::account::MINT_AUTHORITY],
        token_program: &accounts[ixd::account::TOKEN_PROGRAM],
        energy_token_program: &accounts[ixd::account::ENERGY_TOKEN_PROGRAM],
    };
    if batch.count == 0 {
        return Ok(());
    }
    cpi.mint(accounts, &batch)
}
