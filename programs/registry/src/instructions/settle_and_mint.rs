//! `settle_and_mint`: settle up to 16 meters and mint their exported energy as GRID.
//!
//! The mint rule (docs/mint-rule.md): a meter's GRID is its signed export since its
//! first reading, 1 Wh = 0.001 GRID; imports are the owner's consumption, bought on the
//! market, and are never netted against it. So the GRID of a meter is a function of its
//! counters alone, not of how readings were grouped into settlements.
//!
//! Accounts after the fixed six come in pairs: (meter, the owner's GRID token account).
//! For each meter the amount minted is `total_production_wh - settled_production_wh`
//! when positive, and `settled_production_wh` becomes `total_production_wh`. Both only
//! rise, so a repeated call (a retry after a crash, say) mints nothing new: settlement is
//! idempotent and double minting impossible; the oracle can never have minted more than
//! the production counter it recorded.
//! All mints go to energy_token in one CPI signed by this program's `["minter"]` PDA.

use gtx_common::{Context, bytes, checks, event, ids, token, CommonError};
use pinocchio::{
    cpi::{invoke_signed_with_bounds, Seed, Signer},
    instruction::{InstructionAccount, InstructionView},
    AccountView, ProgramResult,
};

use super::meter_state::writable_meter;
use crate::interface::{events::production_settled as ev, ix::settle_and_mint as ixd, seeds, state::meter as mtr, Error};
use crate::energy_token_interface::ix::mint_from_production as mint_ix;

pub const MAX_METERS: usize = 16;
const CPI_FIXED: usize = mint_ix::ACCOUNTS;
const CPI_MAX: usize = CPI_FIXED + MAX_METERS;

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
    if accounts[ixd::account::REGISTRY_MINTER].address().as_ref() != ids::registry::MINTER {
        return Err(CommonError::InvalidPda.into());
    }
    if accounts[ixd::account::ENERGY_TOKEN_PROGRAM].address().as_ref() != ids::energy_token::ID {
        return Err(Error::InvalidEnergyTokenProgram.into());
    }

    // Settle every meter first; remember what to mint and where.
    let mut amounts = [0u64; MAX_METERS];
    let mut destinations = [0usize; MAX_METERS];
    let mut minted = 0usize;
    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    for i in 0..count {
        let meter_index = ixd::ACCOUNTS + 2 * i;
        writable_meter(&accounts[meter_index], program_id)?;
        let (head, tail) = accounts.split_at_mut(meter_index + 1);
        let token_account = &tail[0];
        checks::writable(token_account)?;
        let mut d = head[meter_index].try_borrow_mut()?;
        let owner: [u8; 32] = bytes::array(&d, mtr::OWNER);
        if token::account_of(token_account, &ids::energy_token::GRID_MINT, &owner).is_err() {
            return Err(Error::InvalidTokenAccount.into());
        }
        let production = bytes::read_u64(&d, mtr::TOTAL_PRODUCTION_WH);
        let settled = bytes::read_u64(&d, mtr::SETTLED_PRODUCTION_WH);
        if production <= settled {
            continue;
        }
        bytes::write_u64(&mut d, mtr::SETTLED_PRODUCTION_WH, production);
        amounts[minted] = production - settled;
        destinations[minted] = meter_index + 1;
        minted += 1;
        bytes::write(&mut e, ev::METER_ID, &d[mtr::METER_ID..mtr::METER_ID + 32]);
        bytes::write(&mut e, ev::OWNER, &owner);
        bytes::write_u64(&mut e, ev::MINTED_WH, production - settled);
        bytes::write_u64(&mut e, ev::SETTLED_PRODUCTION_WH, production);
        event::emit(&e);
    }
    if minted == 0 {
        return Ok(());
    }

    // One CPI: energy_token.mint_from_production(amounts) to the destinations, in order.
    let mut cpi_data = [0u8; mint_ix::arg::MIN_LEN + 8 * MAX_METERS];
    bytes::write(&mut cpi_data, 0, &mint_ix::DISCRIMINATOR);
    bytes::write_u32(&mut cpi_data, mint_ix::arg::AMOUNTS_WH, minted as u32);
    for (k, amount) in amounts[..minted].iter().enumerate() {
        bytes::write_u64(&mut cpi_data, mint_ix::arg::MIN_LEN + 8 * k, *amount);
    }
    let accounts = &*accounts;
    let minter = &accounts[ixd::account::REGISTRY_MINTER];
    let fixed = [
        InstructionAccount::readonly_signer(minter.address()),
        InstructionAccount::writable(accounts[ixd::account::TOKEN_CONFIG].address()),
        InstructionAccount::writable(accounts[ixd::account::MINT].address()),
        InstructionAccount::readonly(accounts[ixd::account::MINT_AUTHORITY].address()),
        InstructionAccount::readonly(accounts[ixd::account::TOKEN_PROGRAM].address()),
    ];
    let metas: [InstructionAccount; CPI_MAX] = core::array::from_fn(|k| {
        if k < CPI_FIXED {
            fixed[k].clone()
        } else if k - CPI_FIXED < minted {
            InstructionAccount::writable(accounts[destinations[k - CPI_FIXED]].address())
        } else {
            InstructionAccount::readonly(minter.address())
        }
    });
    let views: [&AccountView; CPI_MAX] = core::array::from_fn(|k| match k {
        0 => minter,
        1 => &accounts[ixd::account::TOKEN_CONFIG],
        2 => &accounts[ixd::account::MINT],
        3 => &accounts[ixd::account::MINT_AUTHORITY],
        4 => &accounts[ixd::account::TOKEN_PROGRAM],
        _ if k - CPI_FIXED < minted => &accounts[destinations[k - CPI_FIXED]],
        _ => minter,
    });
    let n = CPI_FIXED + minted;
    let instruction = InstructionView {
        program_id: accounts[ixd::account::ENERGY_TOKEN_PROGRAM].address(),
        data: &cpi_data[..mint_ix::arg::MIN_LEN + 8 * minted],
        accounts: &metas[..n],
    };
    let bump = [ids::registry::MINTER_BUMP];
    let signer_seeds = [Seed::from(seeds::MINTER), Seed::from(&bump)];
    invoke_signed_with_bounds::<CPI_MAX, &AccountView>(&instruction, &views[..n], &[Signer::from(&signer_seeds)])
}
