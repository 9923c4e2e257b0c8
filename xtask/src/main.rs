//! Project automation: `cargo xtask codegen` regenerates `realtime-protocol/src/generated/`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod codegen;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

fn read(root: &Path, rel: &str) -> Result<String, String> {
    std::fs::read_to_string(root.join(rel)).map_err(|e| format!("cannot read {rel}: {e}"))
}

/// Generates the protocol types from the vendored spec.
fn run_codegen(root: &Path) -> Result<Vec<codegen::GeneratedFile>, String> {
    let spec = read(root, codegen::SPEC_PATH)?;
    let overrides = read(root, codegen::OVERRIDES_PATH)?;
    codegen::generate(&spec, &overrides)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("codegen") => match run_codegen(&root) {
            Ok(files) => {
                let out_dir = root.join(codegen::OUT_DIR);
                if let Err(e) = std::fs::create_dir_all(&out_dir) {
                    eprintln!("cannot create {}: {e}", out_dir.display());
                    return ExitCode::FAILURE;
                }
                for f in files {
                    let path = root.join(&f.path);
                    let unchanged = std::fs::read_to_string(&path).is_ok_and(|old| old == f.text);
                    if unchanged {
                        continue;
                    }
                    if let Err(e) = std::fs::write(&path, f.text) {
                        eprintln!("cannot write {}: {e}", f.path);
                        return ExitCode::FAILURE;
                    }
                    println!("wrote {}", f.path);
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("codegen failed: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: cargo xtask codegen");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in generated files must be exactly what the generator makes from the vendored spec.
    #[test]
    fn generated_code_is_fresh() {
        let root = workspace_root();
        let files = run_codegen(&root).expect("codegen runs");
        let mut stale = Vec::new();
        for f in &files {
            let on_disk = std::fs::read_to_string(root.join(&f.path)).unwrap_or_default();
            if on_disk != f.text {
                let first = on_disk
                    .lines()
                    .zip(f.text.lines())
                    .enumerate()
                    .find(|(_, (a, b))| a != b)
                    .map(|(i, (a, b))| {
                        format!(
                            "  line {}:\n    checked in: {a}\n    generated:  {b}",
                            i + 1
                        )
                    })
                    .unwrap_or_else(|| {
                        format!(
                            "  lengths differ: {} lines checked in, {} generated",
                            on_disk.lines().count(),
                            f.text.lines().count()
                        )
                    });
                stale.push(format!("{}\n{first}", f.path));
            }
        }
        assert!(
            stale.is_empty(),
            "generated code is stale; run `cargo xtask codegen` and commit the result:\n{}",
            stale.join("\n")
        );
    }
}
