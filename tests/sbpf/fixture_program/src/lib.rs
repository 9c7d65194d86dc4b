#![no_std]

extern "C" {
    fn sol_log_(message: *const u8, len: u64);
    #[cfg(feature = "misspelled_syscall")]
    fn sol_lgo_(message: *const u8, len: u64);
}

#[cfg(feature = "static_mut")]
static mut CALLS: u64 = 0;

const GREETING: &[u8] = b"fixture says hi";

/// # Safety
/// Called by the runtime with its serialized input.
#[no_mangle]
pub unsafe extern "C" fn entrypoint(input: *mut u8) -> u64 {
    #[cfg(feature = "static_mut")]
    {
        CALLS += *input as u64;
        return CALLS;
    }
    #[cfg(feature = "misspelled_syscall")]
    sol_lgo_(GREETING.as_ptr(), GREETING.len() as u64);
    let _ = input;
    sol_log_(GREETING.as_ptr(), GREETING.len() as u64);
    0
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
