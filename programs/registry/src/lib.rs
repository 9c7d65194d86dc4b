#![no_std]
use pinocchio::{AccountView, Address, ProgramResult};
pinocchio::program_entrypoint!(process);
pinocchio::no_allocator!();
pinocchio::nostd_panic_handler!();
fn process(_program_id: &Address, _accounts: &mut [AccountView], _data: &[u8]) -> ProgramResult { Ok(()) }
