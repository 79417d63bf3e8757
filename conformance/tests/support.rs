//! Shared by the live tests: finding a server (or skipping loudly) and connecting to it.

use std::sync::Mutex;

use syncsim_conformance::real_backend::RealDriver;
use syncsim_conformance::server::{self, Server};

/// Live tests start their own local server; one at a time on a 2-core machine.
static SERVER_LOCK: Mutex<()> = Mutex::new(());

/// Runs `test` with a connected driver, or skips loudly (fails under
/// SYNCSIM_CONFORMANCE_REQUIRED=1) when no server is reachable.
pub fn with_server(name: &str, test: impl FnOnce(&mut RealDriver)) {
    let _guard = SERVER_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let server: Server = match server::locate() {
        Ok(server) => server,
        Err(reason) => return skip(name, &reason),
    };
    let mut driver = match RealDriver::connect(&server.url) {
        Ok(driver) => driver,
        Err(error) => return skip(name, &format!("cannot connect to {}: {error}", server.url)),
    };
    test(&mut driver);
    drop(driver);
    drop(server);
}

fn skip(name: &str, reason: &str) {
    assert!(
        !server::required(),
        "{name}: no PostgreSQL server ({reason}) and {} is 1",
        server::REQUIRED_VAR
    );
    eprintln!("\n!!! {name}: SKIPPED, no PostgreSQL server: {reason}");
    eprintln!(
        "!!! set {} or install PostgreSQL to run it\n",
        server::URL_VAR
    );
}
