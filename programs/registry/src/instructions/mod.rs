//! One module per instruction: unpack and check every account, then write.

pub mod initialize;
pub mod register_meter;
pub mod register_user;
