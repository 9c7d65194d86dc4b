//! One module per instruction: unpack and check every account, then write.

pub mod claim_production;
pub mod deactivate_meter;
pub mod initialize;
pub mod meter_state;
pub mod mint_cpi;
pub mod register_meter;
pub mod register_user;
pub mod rotate_meter_key;
pub mod settle_and_mint;
pub mod submit_readings;
