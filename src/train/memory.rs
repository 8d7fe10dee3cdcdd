//! The host allocator while training: every step frees and allocates the same large buffers
//! (activations, gradients, im2col scratch). glibc hands blocks above its mmap threshold
//! (at most 32 MiB) back to the kernel when freed and maps fresh zeroed pages for the next
//! step, and trims the heap's free top beyond 128 KiB; on flex a ConvNeXt step then spends a
//! tenth of its time in page faults. Raising both keeps the freed memory for the next step:
//! `convnext_mini` trains about 1.3x faster for 1.3x the peak memory (`benches/RESULTS.md`).

/// Blocks up to this size come from the heap (reused) rather than fresh mappings.
pub const MMAP_THRESHOLD: usize = 256 << 20;
/// Free memory at the heap's top kept up to this size.
pub const TRIM_THRESHOLD: usize = 1 << 30;

/// Keeps freed training buffers for reuse (glibc on Linux; elsewhere nothing to do). Once per
/// process, before the first step.
pub fn retain_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes the allocator's thresholds; it is thread-safe and
            // takes plain integers.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
                libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int);
            }
        });
    }
}
