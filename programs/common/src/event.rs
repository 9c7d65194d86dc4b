//! Anchor-style events: `sol_log_data` of `discriminator ++ borsh(fields)`, which the
//! runtime logs as `Program data: <base64>` for indexers and anchorpy's EventParser.

/// Emit one event. `data` starts with the event's 8-byte discriminator.
#[inline(always)]
pub fn emit(data: &[u8]) {
    #[cfg(any(target_os = "solana", target_arch = "bpf"))]
    {
        let parts: [&[u8]; 1] = [data];
        // SAFETY: `parts` is a valid array of one slice descriptor (ptr, len), which is
        // the layout `sol_log_data` reads; the runtime only reads it.
        unsafe { pinocchio::syscalls::sol_log_data(parts.as_ptr() as *const u8, parts.len() as u64) };
    }
    #[cfg(not(any(target_os = "solana", target_arch = "bpf")))]
    let _ = data;
}
