//! Project automation: `cargo xtask codegen` regenerates `realtime-protocol/src/generated/` and
//! `realtime-testkit/src/generated/`; `cargo xtask msrv` checks the declared rust-version against
//! the dependencies; `cargo xtask bench` runs the load benchmark; `cargo xtask mutants` runs
//! mutation testing (cargo-mutants) on the conversation's core.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod codegen;
mod msrv;
mod mutants;
mod testkit_schemas;

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
    let mut files = codegen::generate(&spec, &overrides)?;
    let spec: serde_json::Value =
        serde_json::from_str(&spec).map_err(|e| format!("spec is not JSON: {e}"))?;
    files.push(codegen::GeneratedFile {
        path: testkit_schemas::OUT_PATH.to_owned(),
        text: testkit_schemas::generate(&spec)?,
    });
    Ok(files)
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
                    if let Some(dir) = path.parent() {
                        if let Err(e) = std::fs::create_dir_all(dir) {
                            eprintln!("cannot create {}: {e}", dir.display());
                            return ExitCode::FAILURE;
                        }
                    }
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
        Some("bench") => run_bench(&root, &args[1..]),
        Some("mutants") => mutants::run(&root, &args[1..]),
        Some("msrv") => match msrv::check(&root) {
            Ok(r) => {
                println!("declared rust-version: {}", r.declared);
                println!("the dependencies need: {}, by {:?}", r.needed, r.needed_by);
                if r.too_new.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    eprintln!("needing more than declared: {:?}", r.too_new);
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("msrv check failed: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: cargo xtask codegen | cargo xtask msrv | cargo xtask mutants [cargo-mutants args, e.g. --list] | cargo xtask bench [--sessions N --turns T --deltas K --scenario stream|tool|interrupt]");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask bench`: builds and runs the in-process load benchmark (`realtime-bench`'s
/// `load_bench`; xtask depends on none of our crates) with the given arguments, or with a
/// default matrix when none are given.
fn run_bench(root: &Path, args: &[String]) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let build = std::process::Command::new(&cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "realtime-bench",
            "--bin",
            "load_bench",
        ])
        .status();
    if !build.is_ok_and(|s| s.success()) {
        eprintln!("building the load benchmark failed");
        return ExitCode::FAILURE;
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let exe = target.join("release/load_bench");
    let matrix: Vec<Vec<String>> = if args.is_empty() {
        [
            "--scenario stream --sessions 1 --turns 20 --deltas 500",
            "--scenario stream --sessions 200 --turns 2 --deltas 50",
            "--scenario stream --sessions 1000 --turns 1 --deltas 20",
            "--scenario tool --sessions 1 --turns 200 --deltas 10",
            "--scenario interrupt --sessions 1 --turns 100 --deltas 100",
        ]
        .iter()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
    } else {
        vec![args.to_vec()]
    };
    for run in matrix {
        println!("== load_bench {}", run.join(" "));
        match std::process::Command::new(&exe).args(&run).status() {
            Ok(s) if s.success() => {}
            other => {
                eprintln!("load_bench failed: {other:?}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
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
