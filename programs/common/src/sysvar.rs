//! Clock and Rent through their syscalls.
//!
//! pinocchio's `Sysvar::get` returns `UnsupportedSysvar` when built for `bpfel`, and its
//! `Rent` reads only the first field; the runtime's Rent is still
//! `{lamports_per_byte_year: u64, exemption_threshold: f64, burn_percent: u8}`.

use pinocchio::error::ProgramError;

use crate::math;

const ACCOUNT_STORAGE_OVERHEAD: u64 = 128;

#[cfg(any(target_os = "solana", target_arch = "bpf"))]
fn fetch<const N: usize>(syscall: unsafe extern "C" fn(*mut u8) -> u64) -> Result<[u8; N], ProgramError> {
    let mut buf = [0u8; N];
    // SAFETY: the buffer is exactly the sysvar's size, which the runtime writes in full.
    let rc = unsafe { syscall(buf.as_mut_ptr()) };
    if rc == 0 { Ok(buf) } else { Err(ProgramError::UnsupportedSysvar) }
}

/// Lamports an account of `space` data bytes needs to be rent-exempt.
///
/// Clusters use an exemption threshold of exactly 2.0 (1.0 after SIMD-0194). The BPF
/// backend has no floating point, so the threshold is matched by its IEEE-754 bits and
/// any other value is refused rather than approximated.
pub fn rent_exempt_minimum(space: usize) -> Result<u64, ProgramError> {
    let (per_byte_year, threshold_bits) = rent()?;
    let bytes = ACCOUNT_STORAGE_OVERHEAD + space as u64;
    let factor = match threshold_bits {
        THRESHOLD_2_0 => 2,
        THRESHOLD_1_0 => 1,
        _ => return Err(ProgramError::InvalidAccountData),
    };
    math::mul(bytes, per_byte_year)
        .and_then(|base| math::mul(base, factor))
        .ok_or(ProgramError::ArithmeticOverflow)
}

const THRESHOLD_2_0: u64 = 0x4000_0000_0000_0000;
const THRESHOLD_1_0: u64 = 0x3FF0_0000_0000_0000;

#[cfg(any(target_os = "solana", target_arch = "bpf"))]
fn rent() -> Result<(u64, u64), ProgramError> {
    #[allow(deprecated)] // sol_get_sysvar is newer than the runtimes we target
    let raw: [u8; 17] = fetch(pinocchio::syscalls::sol_get_rent_sysvar)?;
    let per_byte_year = u64::from_le_bytes(raw[0..8].try_into().unwrap());
    let threshold_bits = u64::from_le_bytes(raw[8..16].try_into().unwrap());
    Ok((per_byte_year, threshold_bits))
}

/// Unix timestamp of the current slot (the cluster's clock).
#[cfg(any(target_os = "solana", target_arch = "bpf"))]
pub fn unix_timestamp() -> Result<i64, ProgramError> {
    // Clock: slot, epoch_start_timestamp, epoch, leader_schedule_epoch, unix_timestamp.
    #[allow(deprecated)] // sol_get_sysvar is newer than the runtimes we target
    let raw: [u8; 40] = fetch(pinocchio::syscalls::sol_get_clock_sysvar)?;
    Ok(i64::from_le_bytes(raw[32..40].try_into().unwrap()))
}

#[cfg(not(any(target_os = "solana", target_arch = "bpf")))]
fn rent() -> Result<(u64, u64), ProgramError> {
    Err(ProgramError::UnsupportedSysvar)
}

#[cfg(not(any(target_os = "solana", target_arch = "bpf")))]
pub fn unix_timestamp() -> Result<i64, ProgramError> {
    Err(ProgramError::UnsupportedSysvar)
}
