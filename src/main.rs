use std::process::ExitCode;

/// jemalloc rather than glibc malloc: in a 10,000-page storm it took CPU per delivered page from
/// about 0.8 to 0.55 ms, and with 100,000 notifications pending the peak from 125 to 74 MiB
/// (with the settings below; BENCHMARKS.md has the runs). glibc keeps memory freed by one
/// thread in that thread's arena, so a storm's peak stayed resident.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read at its start (`_RJEM_MALLOC_CONF` in the environment overrides
/// them). Two arenas: the bot has few busy threads, and each arena holds memory of its own.
/// Thread caches only for allocations up to 1 KiB, and an eighth of the default slots: cached
/// request bodies and sled pages in a dozen threads' caches were 20 MiB of the peak.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 50] = b"narenas:2,tcache_max:1024,lg_tcache_nslots_mul:-3\0";

fn main() -> ExitCode {
    flink_chatops::cli::main()
}
