//! The `syncsim` command: check the catalog, list it, run a scenario or a scenario file,
//! replay a failure file, fuzz for a wall-clock budget, compare the simulated Postgres with a
//! real one, confirm a failure on it, benchmark. The command lives in the library
//! (`syncsim::cli`), so a user's crate runs the same one over its own models.

/// mimalloc, not glibc's malloc: see `syncsim::cli::Allocator`.
#[global_allocator]
static ALLOCATOR: syncsim::cli::Allocator = syncsim::cli::Allocator;

fn main() -> std::process::ExitCode {
    syncsim::cli::main()
}
