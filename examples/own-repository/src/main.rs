//! The `syncsim` command over this crate's models, with its `scenarios/` directory as the
//! catalog: `cargo run -- check`, `cargo run -- run tally/blind`, `cargo run -- fuzz --budget
//! 30s`, `cargo run -- replay FILE`.

/// The allocator syncsim's own command uses (faster runs; see `syncsim::cli::Allocator`).
#[global_allocator]
static ALLOCATOR: syncsim::cli::Allocator = syncsim::cli::Allocator;

fn main() -> std::process::ExitCode {
    tally_sim::register();
    syncsim::cli::main_with(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))
}
