//! The order account as instructions read it.

use gtx_common::{bytes, checks};
use pinocchio::{error::ProgramError, AccountView, Address};

use crate::interface::{state::order as ord, Error};

/// An order's fields, copied out of its account.
#[derive(Clone, Copy)]
pub struct Order {
    pub market: [u8; 32],
    pub owner: [u8; 32],
    pub order_id: u64,
    pub side: u8,
    pub price_per_kwh: u64,
    pub remaining_wh: u64,
    /// GRID (Wh) for an ask, payment base units for a bid: what the vault holds for it.
    pub escrow_amount: u64,
    pub placed_at: i64,
    pub expires_at: i64,
}

impl Order {
    /// Read an open order of this program. Cancelled and expired orders are closed
    /// accounts, so they fail here as `InvalidOrder`.
    #[inline(always)]
    pub fn load(account: &AccountView, program_id: &Address) -> Result<Order, ProgramError> {
        if checks::program_account(account, program_id, &ord::DISCRIMINATOR, ord::LEN).is_err() {
            return Err(Error::InvalidOrder.into());
        }
        // SAFETY: read-only copy of the fields; no mutable borrow of the order is live.
        let d = unsafe { account.borrow_unchecked() };
        Ok(Order {
            market: bytes::array(d, ord::MARKET),
            owner: bytes::array(d, ord::OWNER),
            order_id: bytes::read_u64(d, ord::ORDER_ID),
            side: d[ord::SIDE],
            price_per_kwh: bytes::read_u64(d, ord::PRICE_PER_KWH),
            remaining_wh: bytes::read_u64(d, ord::REMAINING_WH),
            escrow_amount: bytes::read_u64(d, ord::ESCROW_AMOUNT),
            placed_at: bytes::read_i64(d, ord::PLACED_AT),
            expires_at: bytes::read_i64(d, ord::EXPIRES_AT),
        })
    }

    /// Expired at `now` (an `expires_at` of 0 never expires).
    #[inline(always)]
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at != 0 && now >= self.expires_at
    }
}

/// Payment value of `energy_wh` at `price_per_kwh`: `price * energy / 1000`.
///
/// Exact for every order a market accepts (prices are tick multiples, sizes lot multiples,
/// and tick * lot is a multiple of 1000), so no rounding happens here.
#[inline(always)]
pub fn value_of(price_per_kwh: u64, energy_wh: u64) -> Result<u64, ProgramError> {
    gtx_common::math::mul(price_per_kwh, energy_wh)
        .map(|v| v / 1000)
        .ok_or(gtx_common::CommonError::ArithmeticOverflow.into())
}

#[cfg(test)]
mod tests {
    use super::value_of;

    #[test]
    fn value_is_price_times_energy_over_1000_or_overflow() {
        assert_eq!(value_of(100_000, 1_500).unwrap(), 150_000);
        assert_eq!(value_of(1_000, 1).unwrap(), 1);
        assert!(value_of(u64::MAX, 2).is_err());
        assert_eq!(value_of(u64::MAX / 1_000, 1_000).unwrap(), u64::MAX / 1_000);
    }
}
