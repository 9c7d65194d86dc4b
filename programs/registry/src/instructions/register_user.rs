//! `register_user(user_type)`: create the user PDA `["user", wallet]` for the signer.

use gtx_common::{Context, bytes, checks, event, pda::{self, NewAccount}, sysvar, CommonError};
use pinocchio::{cpi::Seed, ProgramResult};

use crate::interface::{
    events::user_registered as ev, ix::register_user as ixd, seeds, state::registry_config as cfg,
    state::user as usr, Error,
};

pub const PROSUMER: u8 = 0;
pub const CONSUMER: u8 = 1;

#[inline(never)]
pub fn process(ctx: Context) -> ProgramResult {
    let Context { program_id, accounts, data } = ctx;
    checks::data_len(data, ixd::arg::LEN)?;
    checks::accounts(accounts, ixd::ACCOUNTS)?;
    let user_type = data[ixd::arg::USER_TYPE];
    if user_type != PROSUMER && user_type != CONSUMER {
        return Err(Error::InvalidUserType.into());
    }
    let wallet = &accounts[ixd::account::WALLET];
    let config = &accounts[ixd::account::CONFIG];
    let user = &accounts[ixd::account::USER];
    checks::signer(wallet)?;
    checks::writable(wallet)?;
    checks::writable(config)?;
    checks::writable(user)?;
    checks::system_program(&accounts[ixd::account::SYSTEM_PROGRAM])?;
    checks::program_account(config, program_id, &cfg::DISCRIMINATOR, cfg::LEN)?;
    let wallet_key = *wallet.address();
    let bump = pda::canonical(user, &[seeds::USER, wallet_key.as_ref()], program_id)?;
    let bump_seed = [bump];
    NewAccount { payer: wallet, target: user, space: usr::LEN, owner: program_id, seeds: &[Seed::from(seeds::USER), Seed::from(wallet_key.as_ref()), Seed::from(&bump_seed)] }.create()?;
    let now = sysvar::unix_timestamp()?;

    {
        let mut d = accounts[ixd::account::USER].try_borrow_mut()?;
        bytes::write(&mut d, 0, &usr::DISCRIMINATOR);
        bytes::write(&mut d, usr::WALLET, wallet_key.as_ref());
        d[usr::USER_TYPE] = user_type;
        d[usr::STATUS] = 1;
        bytes::write_i64(&mut d, usr::REGISTERED_AT, now);
        d[usr::BUMP] = bump;
    }
    {
        let mut d = accounts[ixd::account::CONFIG].try_borrow_mut()?;
        let count = bytes::read_u64(&d, cfg::USER_COUNT).checked_add(1).ok_or(CommonError::ArithmeticOverflow)?;
        bytes::write_u64(&mut d, cfg::USER_COUNT, count);
    }

    let mut e = [0u8; ev::LEN];
    bytes::write(&mut e, 0, &ev::DISCRIMINATOR);
    bytes::write(&mut e, ev::WALLET, wallet_key.as_ref());
    e[ev::USER_TYPE] = user_type;
    bytes::write_i64(&mut e, ev::REGISTERED_AT, now);
    event::emit(&e);
    Ok(())
}
