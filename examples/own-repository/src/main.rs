//! The `syncsim` command over this crate's models: `cargo run -- check --dir scenarios`,
//! `cargo run -- run --file scenarios/blind.toml`, `cargo run -- replay FILE`.

fn main() -> std::process::ExitCode {
    tally_sim::register();
    syncsim::cli::main()
}
