//! Finding a real PostgreSQL for the live tests: `SYNCSIM_PG_URL` if set, else a throwaway
//! server started from the installed binaries (`/usr/lib/postgresql/<version>/bin`) in a
//! temporary directory, on 127.0.0.1, as a non-root user (initdb refuses root: as root it runs
//! as the `postgres` user through `runuser`). The server stops and its directory goes when the
//! [`Server`] is dropped.
//!
//! Real processes, files and sockets are allowed here only: this is test plumbing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variable: a server URL (`postgres://user@host:port/db`) to test against.
pub const URL_VAR: &str = "SYNCSIM_PG_URL";
/// Environment variable: `1` turns "no server, skipping" into a failure (CI sets it).
pub const REQUIRED_VAR: &str = "SYNCSIM_CONFORMANCE_REQUIRED";

/// A reachable server.
pub struct Server {
    /// Its connection URL.
    pub url: String,
    local: Option<LocalServer>,
}

struct LocalServer {
    bin: PathBuf,
    dir: PathBuf,
    as_user: Option<String>,
}

impl Server {
    /// Whether this is a server the tests started themselves.
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = run(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            self.as_user.as_deref(),
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a missing server must fail the run (`SYNCSIM_CONFORMANCE_REQUIRED=1`).
pub fn required() -> bool {
    std::env::var(REQUIRED_VAR).is_ok_and(|value| value == "1")
}

/// The server to test against: `SYNCSIM_PG_URL`, else a local one started now. `Err` says
/// why there is none.
pub fn locate() -> Result<Server, String> {
    if let Ok(url) = std::env::var(URL_VAR) {
        return Ok(Server { url, local: None });
    }
    let bin = installed_bin().ok_or_else(|| {
        format!("{URL_VAR} is not set and no PostgreSQL binaries in /usr/lib/postgresql/*/bin")
    })?;
    start_local(&bin)
}

fn installed_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

fn run(program: &Path, args: &[&str], as_user: Option<&str>) -> Result<String, String> {
    let mut command = match as_user {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(program);
            command
        }
        None => Command::new(program),
    };
    let output = command
        .args(args)
        .output()
        .map_err(|error| format!("cannot run {}: {error}", program.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!("{} failed: {}", program.display(), text.trim()))
    }
}

#[allow(clippy::disallowed_methods)] // Probing for a free local port: real sockets.
fn free_port() -> Option<u16> {
    (54330..54400).find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
}

fn start_local(bin: &Path) -> Result<Server, String> {
    let as_user = if is_root() {
        let exists = Command::new("id").arg("postgres").output();
        if !exists.is_ok_and(|output| output.status.success()) {
            return Err("running as root and there is no `postgres` user for initdb".into());
        }
        Some("postgres".to_string())
    } else {
        None
    };
    let port = free_port().ok_or("no free port in 54330..54400")?;
    let dir = std::env::temp_dir().join(format!("syncsim-pg-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    let local = LocalServer {
        bin: bin.to_path_buf(),
        dir: dir.clone(),
        as_user: as_user.clone(),
    };
    if let Some(user) = &as_user {
        run(Path::new("chown"), &[user, &dir.to_string_lossy()], None)?;
    }
    let data = dir.join("data").to_string_lossy().into_owned();
    let user = as_user.as_deref();
    let initdb_args = ["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"];
    run(
        &bin.join("initdb"),
        &[&initdb_args[..], &["--locale=C"]].concat(),
        user,
    )?;
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
        dir.display()
    );
    let log = dir.join("log").to_string_lossy().into_owned();
    let start = ["-D", &data, "-o", &options, "-l", &log, "-w", "start"];
    run(&bin.join("pg_ctl"), &start, user)?;
    Ok(Server {
        url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        local: Some(local),
    })
}
