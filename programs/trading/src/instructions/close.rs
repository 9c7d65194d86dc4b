//! Closing an order (cancel, expiry, or the end of a filled order): refund what the vault
//! still holds for it to the owner's token account or balance account, return the
//! account's rent to the owner, and emit the event that says why.

use gtx_common::{bytes, event, CommonError};
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};
use pinocchio_token::instructions::Transfer;

use super::{
    balance::{self, Asset, Holder},
    check_token_program,
    market::Market,
    order::Order,
    ASK,
};
use crate::interface::{events::order_cancelled as ev, Error};

// OrderCancelled, OrderExpired and OrderClosed share one layout; only the discriminator differs.
const _: () = {
    use crate::interface::events::{order_closed, order_expired};
    assert!(ev::LEN == order_expired::LEN && ev::LEN == order_closed::LEN);
    assert!(ev::REFUNDED == order_expired::REFUNDED && ev::REFUNDED == order_closed::REFUNDED);
};

/// The accounts of a close, already unpacked by the instruction.
pub struct Close<'a> {
    pub program_id: &'a Address,
    pub market: &'a AccountView,
    pub order: AccountView,
    pub owner: AccountView,
    pub destination: &'a AccountView,
    pub vault: &'a AccountView,
    pub token_program: &'a AccountView,
}

impl Close<'_> {
    /// Check the accounts against the order, then refund and close. `allowed` decides,
    /// from the order and the market, which event applies (or refuses the close).
    pub fn run(mut self, allowed: impl FnOnce(&Order) -> Result<[u8; 8], ProgramError>) -> ProgramResult {
        let market = Market::load(self.market, self.program_id)?;
        let order = Order::load(&self.order, self.program_id)?;
        if order.market != *self.market.address().as_array() {
            return Err(Error::WrongMarket.into());
        }
        if self.owner.address().as_array() != &order.owner {
            return Err(Error::NotOrderOwner.into());
        }
        let discriminator = allowed(&order)?;
        gtx_common::checks::writable(&self.order)?;
        gtx_common::checks::writable(&self.owner)?;
        gtx_common::checks::writable(self.destination)?;
        gtx_common::checks::writable(self.vault)?;
        check_token_program(self.token_program)?;
        if self.vault.address().as_array() != market.vault_for(order.side) {
            return Err(Error::InvalidVault.into());
        }
        let mint: &[u8; 32] = if order.side == ASK { &gtx_common::ids::energy_token::GRID_MINT } else { &market.payment_mint };
        let to = balance::holder(self.destination, self.program_id, &order.market, mint, &order.owner)?;

        if order.escrow_amount > 0 {
            let (vault, destination) = (self.vault, self.destination);
            match to {
                Holder::Token => market.signed(|signer| {
                    Transfer::new(vault, destination, self.market, order.escrow_amount).invoke_signed(signer)
                })?,
                Holder::Balance => {
                    let asset = if order.side == ASK { Asset::Grid } else { Asset::Payment };
                    balance::credit(*destination, asset, order.escrow_amount)?;
                }
            }
        }
        let rent = self.order.lamports();
        let total = self.owner.lamports().checked_add(rent).ok_or(CommonError::ArithmeticOverflow)?;
        self.owner.set_lamports(total);
        // close() zeroes the order's lamports, data length and owner.
        self.order.close()?;

        let mut e = [0u8; ev::LEN];
        bytes::write(&mut e, 0, &discriminator);
        bytes::write(&mut e, ev::MARKET, self.market.address().as_ref());
        bytes::write_u64(&mut e, ev::ORDER_ID, order.order_id);
        bytes::write(&mut e, ev::OWNER, &order.owner);
        bytes::write_u64(&mut e, ev::REMAINING_WH, order.remaining_wh);
        bytes::write_u64(&mut e, ev::REFUNDED, order.escrow_amount);
        event::emit(&e);
        Ok(())
    }
}
