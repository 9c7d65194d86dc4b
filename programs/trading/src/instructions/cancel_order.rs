//! `cancel_order`: the owner takes an order off the book (live or already filled); its
//! escrow goes back and the account is closed.

use gtx_common::{checks, Context};
use pinocchio::ProgramResult;

use super::close::Close;
use crate::interface::{events::order_cancelled as ev, ix::cancel_order as ixd};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    checks::signer(&accounts[ixd::account::OWNER])?;
    Close {
        program_id,
        market: &accounts[ixd::account::MARKET],
        order: accounts[ixd::account::ORDER],
        owner: accounts[ixd::account::OWNER],
        destination: &accounts[ixd::account::DESTINATION],
        vault: &accounts[ixd::account::VAULT],
        token_program: &accounts[ixd::account::TOKEN_PROGRAM],
    }
    .run(|_| Ok(ev::DISCRIMINATOR))
}
