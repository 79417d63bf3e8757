//! The build is a simulation build: `--cfg madsim` from `.cargo/config.toml` reached the code.
//!
//! A `RUSTFLAGS` variable set anywhere replaces that flag without a word; then madsim would
//! run on real tokio with real time and every determinism guarantee would be void.

#[test]
fn the_build_is_simulated_so_a_lost_cfg_madsim_flag_fails_loudly() {
    assert!(
        syncsim::sim::is_simulated(),
        "built without --cfg madsim: unset RUSTFLAGS (it overrides .cargo/config.toml)"
    );
}
