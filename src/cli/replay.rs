//! `syncsim replay FILE`: re-runs a replay file in this process and prints its trace as
//! text, a Mermaid sequence diagram, a Chrome trace or, with `--format spec`, the SQL its run
//! sent as an isolationtester spec (`confirm.rs`); says whether it reproduced.
//!
//! Exit code 0 when the run failed the same property with the same digest, 1 when it did
//! not (a note explains a version mismatch), 2 when the file cannot be read or parsed.

use crate::scenarios::replay::ReplayFile;
use crate::sim::render;

use super::args::{Format, ReplayArgs};
use super::{write_file, Usage};

/// Replays the file.
pub fn replay(arguments: &ReplayArgs) -> Result<u8, Usage> {
    let spec_options =
        !arguments.spec.tables.is_empty() || arguments.spec.server.is_some() || arguments.all;
    if spec_options && arguments.format != Format::Spec {
        return Err(Usage(
            "--tables, --server and --all go with --format spec".to_string(),
        ));
    }
    let file = ReplayFile::load(&arguments.file).map_err(|error| Usage(error.0))?;
    if let Some(note) = file.version_note() {
        eprintln!("{note}");
    }
    let outcome = file.replay_keeping_services();
    let rendered = match arguments.format {
        Format::Text => {
            let mut text = outcome.trace.render();
            if let Some(report) = outcome.report() {
                let replay = super::replay_file_command(&arguments.file);
                text.push_str(&super::printed(&report, &replay));
                text.push('\n');
            }
            text
        }
        Format::Mermaid => render::mermaid(&outcome.trace),
        Format::Chrome => serde_json::to_string_pretty(&render::chrome(&outcome.trace))
            .expect("JSON values serialize"),
        Format::Spec => {
            let focus = !arguments.all;
            let (_, emitted) =
                super::confirm::spec_of_run(&file, &outcome, &arguments.spec, focus)?;
            for note in &emitted.notes {
                eprintln!("note: {note}");
            }
            emitted.text
        }
    };
    match &arguments.out {
        Some(path) => {
            write_file(path, &rendered)?;
            eprintln!("wrote {}", path.display());
        }
        None => say!("{}", rendered.trim_end()),
    }
    let same_failure =
        outcome.failure.as_ref().map(|failure| &failure.property) == Some(&file.failure.property);
    if same_failure && outcome.digest() == file.digest {
        eprintln!(
            "reproduced: {} fails {:?}, digest {}",
            file.scenario.id, file.failure.property, file.digest
        );
        Ok(0)
    } else {
        eprintln!(
            "NOT reproduced: the file recorded {:?} with digest {}; this run {} with digest {}",
            file.failure.property,
            file.digest,
            outcome
                .failure
                .map_or("passed".to_string(), |failure| format!(
                    "failed {:?}",
                    failure.property
                )),
            outcome.trace.digest()
        );
        Ok(1)
    }
}
