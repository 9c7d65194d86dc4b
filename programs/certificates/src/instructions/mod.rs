//! One module per instruction: unpack and check every account, then write.

pub mod certificate_state;
pub mod expire;
pub mod initialize;
pub mod issue;
pub mod retire;
pub mod revoke;
pub mod transfer;
pub mod update_config;
pub mod validate;
