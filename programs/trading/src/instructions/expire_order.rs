//! `expire_order`: anyone may close an order that can no longer trade — past its expiry
//! or completely filled — so escrow never stays stuck waiting for its owner.

use gtx_common::{checks, sysvar, Context};
use pinocchio::ProgramResult;

use super::close::Close;
use crate::interface::{
    events::{order_closed, order_expired},
    ix::expire_order as ixd,
    Error,
};

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let now = sysvar::unix_timestamp()?;
    Close {
        program_id,
        market: &accounts[ixd::account::MARKET],
        order: accounts[ixd::account::ORDER],
        owner: accounts[ixd::account::OWNER],
        destination: &accounts[ixd::account::DESTINATION],
        vault: &accounts[ixd::account::VAULT],
        token_program: &accounts[ixd::account::TOKEN_PROGRAM],
    }
    .run(|order| {
        if order.remaining_wh == 0 {
            Ok(order_closed::DISCRIMINATOR)
        } else if order.expired(now) {
            Ok(order_expired::DISCRIMINATOR)
        } else {
            Err(Error::OrderStillLive.into())
        }
    })
}
