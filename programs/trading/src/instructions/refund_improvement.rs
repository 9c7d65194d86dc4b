//! `refund_improvement`: pay bids the price improvement they have earned so far, without
//! closing them.
//!
//! A bid escrows its limit value; fills below the limit leave the difference in the bid's
//! escrow (settle_fills does not spend a token transfer per fill on it). Anyone may crank
//! it back to the buyers here, for many bids at once: each bid keeps exactly what its
//! remaining size needs at its limit, `remaining_wh * price_per_kwh / 1000`.

use gtx_common::{bytes, checks, event, CommonError, Context};
use pinocchio::ProgramResult;
use pinocchio_token::instructions::Transfer;

use super::{
    balance::{self, Asset, Holder},
    check_token_program,
    market::Market,
    order::{value_of, Order},
    BID,
};
use crate::{
    interface::{events::improvement_refunded as ev, ix::refund_improvement as ixd, state::order as ord, Error},
    MAX_FILLS,
};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let pairs = accounts.len() - ixd::ACCOUNTS;
    if pairs == 0 || pairs % 2 != 0 || pairs / 2 > MAX_FILLS {
        return Err(Error::TooManyRefunds.into());
    }
    let market_account = &accounts[ixd::account::MARKET];
    let market = Market::load(market_account, program_id)?;
    let vault = &accounts[ixd::account::PAYMENT_VAULT];
    checks::writable(vault)?;
    if vault.address().as_array() != &market.payment_vault {
        return Err(Error::InvalidVault.into());
    }
    check_token_program(&accounts[ixd::account::TOKEN_PROGRAM])?;
    let market_key = market_account.address().to_bytes();

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::MARKET, &market_key);
    for i in 0..pairs / 2 {
        let at = ixd::ACCOUNTS + 2 * i;
        let bid = Order::load(&accounts[at], program_id)?;
        if bid.market != market_key {
            return Err(Error::WrongMarket.into());
        }
        if bid.side != BID {
            return Err(Error::WrongSide.into());
        }
        let needed = value_of(bid.price_per_kwh, bid.remaining_wh)?;
        let surplus = bid.escrow_amount.checked_sub(needed).ok_or(CommonError::ArithmeticOverflow)?;
        if surplus == 0 {
            continue;
        }
        checks::writable(&accounts[at])?;
        checks::writable(&accounts[at + 1])?;
        let to = balance::holder(&accounts[at + 1], program_id, &market_key, &market.payment_mint, &bid.owner)?;
        {
            let mut d = accounts[at].try_borrow_mut()?;
            bytes::write_u64(&mut d, ord::ESCROW_AMOUNT, needed);
        }
        let (vault, destination, authority) = (&accounts[ixd::account::PAYMENT_VAULT], &accounts[at + 1], &accounts[ixd::account::MARKET]);
        match to {
            Holder::Token => market.signed(|signer| Transfer::new(vault, destination, authority, surplus).invoke_signed(signer))?,
            Holder::Balance => {
                balance::credit(*destination, Asset::Payment, surplus)?;
            }
        }
        bytes::write_u64(&mut e, ev::ORDER_ID, bid.order_id);
        bytes::write(&mut e, ev::OWNER, &bid.owner);
        bytes::write_u64(&mut e, ev::REFUNDED, surplus);
        event::emit(&e);
    }
    Ok(())
}
