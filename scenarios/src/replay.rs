//! Replay files: a failure as a JSON file that re-runs it anywhere, with one command.
//!
//! The file holds the whole (shrunk) scenario as data, the seed, the failure and the trace
//! digest, and the syncsim version that wrote it. Replaying runs the scenario on the seed and
//! compares digests; a file from another version is run all the same, with a clear note that
//! its trace may differ. Not stored: the trace itself (the replay regenerates it).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use syncsim_sim::{Failure, Outcome, Seed};

use crate::shrink::Shrunk;
use crate::spec::ScenarioSpec;

/// The version of syncsim that writes and reads replay files.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How much shrinking reduced a failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShrinkStats {
    /// Candidate runs tried.
    pub run_count: u32,
    /// Timed faults before shrinking.
    pub fault_count_before: usize,
    /// Timed faults after.
    pub fault_count_after: usize,
    /// Trace events before shrinking.
    pub event_count_before: usize,
    /// Trace events after.
    pub event_count_after: usize,
}

/// A failure, replayable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayFile {
    /// The syncsim version that wrote the file.
    pub syncsim_version: String,
    /// The scenario as run (concrete, shrunk fault plan).
    pub scenario: ScenarioSpec,
    /// The master seed.
    pub seed: Seed,
    /// What failed.
    pub failure: Failure,
    /// The trace digest of the failing run.
    pub digest: String,
    /// How much shrinking reduced it (absent when not shrunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrink: Option<ShrinkStats>,
}

/// Why a replay file cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayError(pub String);

impl fmt::Display for ReplayError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for ReplayError {}

/// The longest replay file read, in bytes: a shrunk failure's file is a few KiB and an
/// unshrunk one's fault plan is bounded by the limits on random faults (`limits`).
pub const REPLAY_FILE_BYTES_MAX: u64 = 64 << 20;

impl ReplayFile {
    /// The replay file of a shrunk failure.
    pub fn from_shrunk(shrunk: &Shrunk) -> ReplayFile {
        let mut file = ReplayFile::from_outcome(&shrunk.spec, &shrunk.outcome);
        file.shrink = Some(ShrinkStats {
            run_count: shrunk.run_count,
            fault_count_before: shrunk.fault_count.0,
            fault_count_after: shrunk.fault_count.1,
            event_count_before: shrunk.event_count.0,
            event_count_after: shrunk.event_count.1,
        });
        file
    }

    /// The replay file of a failed run, not shrunk; stores the run's concrete fault plan.
    pub fn from_outcome(spec: &ScenarioSpec, outcome: &Outcome) -> ReplayFile {
        let mut scenario = spec.clone();
        scenario.faults = outcome.plan.clone();
        ReplayFile {
            syncsim_version: VERSION.to_string(),
            scenario,
            seed: outcome.seed,
            failure: outcome
                .failure
                .clone()
                .expect("a replay file is for a failed run"),
            digest: outcome.digest(),
            shrink: None,
        }
    }

    /// `<dir>/<model>_<variant>[_<shape>]-<seed>.json`.
    pub fn path_in(&self, directory: &Path) -> PathBuf {
        let name = self.scenario.id.replace('/', "_");
        directory.join(format!("{name}-{}.json", self.seed))
    }

    /// The JSON text, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a replay file always serializes")
    }

    /// Parses and validates a replay file's text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<ReplayFile, ReplayError> {
        let file: ReplayFile = serde_json::from_str(text).map_err(|error| {
            ReplayError(format!("{origin}: not a syncsim replay file: {error}"))
        })?;
        file.scenario
            .validate()
            .map_err(|error| ReplayError(format!("{origin}: invalid scenario: {error}")))?;
        Ok(file)
    }

    /// Reads and parses the replay file at `path` (at most `REPLAY_FILE_BYTES_MAX`).
    pub fn load(path: &Path) -> Result<ReplayFile, ReplayError> {
        let what = "a replay file";
        let text =
            crate::file::read_bounded(path, REPLAY_FILE_BYTES_MAX, what).map_err(ReplayError)?;
        ReplayFile::from_json(&text, &path.display().to_string())
    }

    /// A note when the file was written by another syncsim version.
    pub fn version_note(&self) -> Option<String> {
        (self.syncsim_version != VERSION).then(|| {
            format!(
                "note: this file was written by syncsim {} and is replayed by syncsim {VERSION}; \
                 if the model or the kernel changed since, the run may differ",
                self.syncsim_version
            )
        })
    }

    /// Runs the file's scenario on its seed.
    pub fn replay(&self) -> Outcome {
        self.scenario.case().run(self.seed)
    }

    /// Re-runs the file like [`ReplayFile::replay`], keeping the services' ground truth on the
    /// outcome (`Outcome::services`: the SQL history `confirm` reads).
    pub fn replay_keeping_services(&self) -> Outcome {
        self.scenario.case().run_keeping_services(self.seed)
    }
}
