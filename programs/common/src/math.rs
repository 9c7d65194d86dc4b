//! Checked u64 arithmetic that lowers on SBPF v0.
//!
//! `u64::checked_mul` compiles to a 128-bit multiply (`__multi3`), which the BPF
//! backend cannot emit; these helpers stay in 64-bit operations.

/// `a * b`, or `None` on overflow, from 32-bit halves so no 128-bit product appears.
#[inline(always)]
pub fn mul(a: u64, b: u64) -> Option<u64> {
    let (a_hi, a_lo) = (a >> 32, a & 0xFFFF_FFFF);
    let (b_hi, b_lo) = (b >> 32, b & 0xFFFF_FFFF);
    if a_hi != 0 && b_hi != 0 {
        return None;
    }
    // At most one of the cross terms is non-zero, and each is below 2^64.
    let cross = a_hi * b_lo + a_lo * b_hi;
    if cross > 0xFFFF_FFFF {
        return None;
    }
    (a_lo * b_lo).checked_add(cross << 32)
}

#[cfg(test)]
mod tests {
    use super::mul;

    #[test]
    fn matches_checked_mul() {
        let samples = [0u64, 1, 2, 3, 7, 1 << 31, 1 << 32, (1 << 32) + 1, u64::MAX / 3, u64::MAX / 2, u64::MAX];
        for &a in &samples {
            for &b in &samples {
                assert_eq!(mul(a, b), a.checked_mul(b), "{a} * {b}");
            }
        }
    }
}
