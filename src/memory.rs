//! Allocator tuning. mimalloc, the binary's global allocator, keeps freed
//! memory for reuse by default; orgctl has it hand freed memory back to the
//! OS at once instead, so a plan's peak and a controller's idle memory stay
//! what the data needs. Harmless under another global allocator (these
//! calls then touch only mimalloc's own unused state).

/// Sets mimalloc to commit arena memory only as it is used and to return
/// freed memory without delay. The `orgctl` binary calls it before its
/// first allocation (mimalloc sizes and commits its first arena then; set
/// later, the commit setting misses that arena: +10 MiB at a 100k-user
/// plan); `controller::run_blocking` calls it again for library callers.
#[allow(unsafe_code)]
pub fn release_promptly() {
    // Option numbers of `mi_option_e` (the Rust binding names only some of
    // them): arena_eager_commit = 4, purge_delay = 15.
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: setting an option is a plain store into mimalloc's option
    // table; both values are in their documented ranges.
    unsafe {
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}

/// Hands the memory the calling thread freed back to the OS now (mimalloc
/// keeps some freed pages per thread for reuse). The controller calls it
/// after each engine job and reconcile, so what one reconcile freed does
/// not stay resident while it idles.
#[allow(unsafe_code)]
pub fn return_freed() {
    // SAFETY: `mi_collect` only walks the calling thread's own heap.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
