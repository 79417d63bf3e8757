//! Embeds the committed scenario files (`catalog/<model>/<name>.toml`) into the crate, so the
//! catalog a release build runs is exactly those files, in path order, with no file system
//! access at run time. Not here: parsing (the crate parses the embedded text, and a test
//! checks every file loads).
#![allow(clippy::disallowed_methods)] // A build script reads and writes real files.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let catalog = manifest.join("catalog");
    // A directory here makes cargo rebuild when any file under it changes.
    println!("cargo:rerun-if-changed=catalog");
    let mut files = Vec::new();
    collect(&catalog, &mut files);
    files.sort();
    let mut code =
        String::from("/// The committed scenario files: (path under `catalog/`, text).\n");
    code.push_str("pub(crate) const FILES: &[(&str, &str)] = &[\n");
    for file in &files {
        let relative = file.strip_prefix(&catalog).expect("under catalog/");
        let relative = relative.to_str().expect("a UTF-8 path").replace('\\', "/");
        // The crate's directory as this compilation sees it, not as the build script saw
        // it: a moved checkout (or a shared target directory) still finds its files.
        let path = format!("/catalog/{relative}");
        code.push_str(&format!(
            "    ({relative:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {path:?}))),\n"
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("catalog_files.rs"), code).expect("OUT_DIR is writable");
}

/// Every `.toml` or `.json` file under `directory`.
fn collect(directory: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(directory).expect("scenarios/catalog exists");
    for entry in entries {
        let path = entry.expect("a readable directory entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path
            .extension()
            .is_some_and(|extension| extension == "toml" || extension == "json")
        {
            files.push(path);
        }
    }
}
