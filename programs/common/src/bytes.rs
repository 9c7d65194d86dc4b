//! Little-endian field access at fixed offsets (Borsh layout of fixed-size fields).
//!
//! Offsets come from the generated `interface.rs`; callers have already checked the
//! slice length against the layout's `LEN`, so out-of-range access is a bug and panics.

#[inline(always)]
pub fn read_u64(d: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(array(d, off))
}

#[inline(always)]
pub fn read_i64(d: &[u8], off: usize) -> i64 {
    i64::from_le_bytes(array(d, off))
}

#[inline(always)]
pub fn read_u32(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(array(d, off))
}

#[inline(always)]
pub fn array<const N: usize>(d: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&d[off..off + N]);
    out
}

#[inline(always)]
pub fn write_u64(d: &mut [u8], off: usize, v: u64) {
    d[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

#[inline(always)]
pub fn write_i64(d: &mut [u8], off: usize, v: i64) {
    d[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

#[inline(always)]
pub fn write_u32(d: &mut [u8], off: usize, v: u32) {
    d[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

#[inline(always)]
pub fn write(d: &mut [u8], off: usize, v: &[u8]) {
    d[off..off + v.len()].copy_from_slice(v);
}
