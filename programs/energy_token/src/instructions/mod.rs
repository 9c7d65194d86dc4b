//! One module per instruction: unpack and check every account, then write.

pub mod burn;
pub mod initialize;
pub mod mint_from_production;

use gtx_common::{ids, token::TOKEN_PROGRAM_ID};
use pinocchio::{error::ProgramError, AccountView};

use crate::interface::Error;

pub(crate) fn check_token_program(a: &AccountView) -> Result<(), ProgramError> {
    if a.address() == &TOKEN_PROGRAM_ID { Ok(()) } else { Err(Error::InvalidTokenProgram.into()) }
}

pub(crate) fn check_mint(a: &AccountView) -> Result<(), ProgramError> {
    if a.address().as_ref() == ids::energy_token::GRID_MINT { Ok(()) } else { Err(Error::InvalidMint.into()) }
}

pub(crate) fn check_config(a: &AccountView) -> Result<(), ProgramError> {
    use crate::interface::state::token_config as cfg;
    if a.address().as_ref() != ids::energy_token::CONFIG {
        return Err(gtx_common::CommonError::InvalidPda.into());
    }
    gtx_common::checks::program_account(a, &pinocchio::Address::new_from_array(ids::energy_token::ID),
                                        &cfg::DISCRIMINATOR, cfg::LEN)
}
