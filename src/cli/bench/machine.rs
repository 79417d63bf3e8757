//! What a benchmark ran on and how it was started: cores, CPU model, rustc, load average,
//! and the command line, so every table carries its provenance. Read from /proc and from
//! `rustc --version` on the PATH (the toolchain that built a `cargo run` binary). Not here:
//! CPU frequency scaling or other processes' names.

/// Where and how a benchmark ran.
pub struct Machine {
    /// Logical cores the process may use.
    pub core_count: usize,
    /// The CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// `rustc --version`.
    pub rustc: String,
    /// The 1-minute load average when the section started.
    pub load_1m: String,
}

impl Machine {
    /// Reads the machine's description now.
    pub fn describe() -> Machine {
        let cpu = read_proc("/proc/cpuinfo")
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(
                || "unknown".to_string(),
                |(_, name)| name.trim().to_string(),
            );
        let rustc = std::process::Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .map_or_else(|| "unknown".to_string(), |text| text.trim().to_string());
        Machine {
            core_count: std::thread::available_parallelism().map_or(1, usize::from),
            cpu,
            rustc,
            load_1m: load_1m(),
        }
    }

    /// One Markdown line: cores, CPU, rustc and the load when the section started.
    pub fn line(&self) -> String {
        format!(
            "Machine: {} cores ({}), {}, load average {} when the section started.",
            self.core_count, self.cpu, self.rustc, self.load_1m
        )
    }
}

/// The 1-minute load average, as /proc/loadavg prints it.
pub fn load_1m() -> String {
    read_proc("/proc/loadavg")
        .split_whitespace()
        .next()
        .unwrap_or("unknown")
        .to_string()
}

/// The command line this process was started with, as `syncsim <arguments>`.
pub fn command_line() -> String {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    format!("syncsim {}", arguments.join(" "))
}

/// Peak resident memory of this process, in kB (VmHWM).
pub fn peak_memory_kb() -> Option<u64> {
    status_kb("VmHWM:")
}

/// Current resident memory, in kB (VmRSS).
pub fn resident_memory_kb() -> Option<u64> {
    status_kb("VmRSS:")
}

fn status_kb(field: &str) -> Option<u64> {
    read_proc("/proc/self/status")
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

#[allow(clippy::disallowed_methods)] // The bench driver reads /proc, outside any simulation.
fn read_proc(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
