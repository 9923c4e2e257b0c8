//! `cargo xtask mutants`: mutation testing of the code whose correctness the conversation
//! depends on, with cargo-mutants (`cargo install cargo-mutants`). Too slow for CI (hours on
//! two cores); run it before a release and read `target/mutants/mutants.out/`.

use std::path::Path;
use std::process::ExitCode;

/// The files mutated: the session loop and its records, the history, the playback tracker,
/// the OpenAI model and the transport's connection and shared socket.
pub(crate) const FILES: &[&str] = &[
    "realtime-runner/src/session/*.rs",
    "realtime-runner/src/history.rs",
    "realtime-runner/src/playback.rs",
    "realtime-runner/src/openai/mod.rs",
    "realtime-transport/src/connection.rs",
    "realtime-transport/src/io.rs",
];

/// The packages whose tests judge each mutant.
pub(crate) const TEST_PACKAGES: &[&str] = &["realtime-runner", "tests", "realtime-transport"];

/// The cargo-mutants arguments for `extra` (e.g. `--list`, `--iterate`, `-j 2`).
pub(crate) fn args(extra: &[String]) -> Vec<String> {
    let mut a = vec!["mutants".to_owned(), "--no-shuffle".to_owned()];
    for f in FILES {
        a.push("--file".into());
        a.push((*f).into());
    }
    for p in TEST_PACKAGES {
        a.push("--test-package".into());
        a.push((*p).into());
    }
    // A hung mutant (a wait that never ends) is cut after this long.
    a.extend(["--timeout".into(), "300".into()]);
    a.extend(["--output".into(), "target/mutants".into()]);
    a.extend(extra.iter().cloned());
    a
}

pub(crate) fn run(root: &Path, extra: &[String]) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let args = args(extra);
    println!("cargo {}", args.join(" "));
    match std::process::Command::new(cargo)
        .current_dir(root)
        .args(&args)
        .status()
    {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("cargo mutants ended with {s} (missed mutants make it fail: see target/mutants/mutants.out/missed.txt; is it installed? `cargo install cargo-mutants`)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cannot run cargo: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path or glob names files that exist: a renamed file must not drop out unnoticed.
    #[test]
    fn the_mutated_files_exist() {
        let root = crate::workspace_root();
        for f in FILES {
            match f.strip_suffix("*.rs") {
                Some(dir) => {
                    let n = std::fs::read_dir(root.join(dir))
                        .map(|d| {
                            d.filter_map(Result::ok)
                                .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
                                .count()
                        })
                        .unwrap_or(0);
                    assert!(n > 0, "{f} matches nothing");
                }
                None => assert!(root.join(f).is_file(), "{f} does not exist"),
            }
        }
        let a = args(&["--list".into()]);
        assert_eq!(a.last().map(String::as_str), Some("--list"));
        assert_eq!(a.iter().filter(|x| *x == "--file").count(), FILES.len());
    }
}
