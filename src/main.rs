//! The `syncsim` command: check the catalog, list it, run a scenario or a scenario file,
//! replay a failure file, fuzz for a wall-clock budget, compare the simulated Postgres with a
//! real one, confirm a failure on it, benchmark. The command lives in the library
//! (`syncsim::cli`), so a user's crate runs the same one over its own models.

/// Every run starts a fresh thread; glibc's malloc gives each its own arena and hands the
/// memory back and forth with the kernel, a page fault per reused page (BENCHMARKS.md,
/// section 3). mimalloc keeps it. Allocation never shows in a trace: determinism is
/// untouched.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    syncsim::cli::main()
}
