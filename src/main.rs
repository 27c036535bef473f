use std::process::ExitCode;

fn main() -> ExitCode {
    limit_malloc_arenas();
    flink_chatops::cli::main()
}

/// glibc gives every thread that allocates its own arena (up to 8 per core), and memory freed
/// into one is not reused by another: through a 10,000-alert storm that grew the peak from
/// ~63 to ~78 MiB (BENCHMARKS.md). Two arenas keep intake and delivery apart and memory flat.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    // SAFETY: called before any other thread exists; mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
