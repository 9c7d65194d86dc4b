//! One module per instruction (unpack and check every account, then write), plus the
//! market and order views they share.

pub mod balance;
pub mod cancel_order;
pub mod close;
pub mod deposit;
pub mod expire_order;
pub mod initialize_market;
pub mod market;
pub mod order;
pub mod place_order;
pub mod refund_improvement;
pub mod settle_fills;
pub mod withdraw;

use gtx_common::token::TOKEN_PROGRAM_ID;
use pinocchio::{error::ProgramError, AccountView};

use crate::interface::Error;

/// Order sides as stored in `Order.side` and passed to `place_order`.
pub const BID: u8 = 0;
pub const ASK: u8 = 1;

pub(crate) fn check_token_program(a: &AccountView) -> Result<(), ProgramError> {
    if a.address() == &TOKEN_PROGRAM_ID { Ok(()) } else { Err(Error::InvalidTokenProgram.into()) }
}
