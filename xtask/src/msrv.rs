//! `cargo xtask msrv`: the minimum supported Rust version must be true. The declared
//! `rust-version` must be at least what every normal and build dependency of every published
//! crate declares (with all features on, for the host platform), and every published crate
//! must declare it. The code's own use of newer std APIs is caught by clippy's
//! `incompatible_msrv` lint, which reads the same `rust-version`.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Command;

/// A Rust version, compared numerically (`1.88` = `1.88.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Version(u32, u32, u32);

impl Version {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let mut parts = s.trim().split('.').map(|p| p.parse::<u32>());
        let major = parts.next()?.ok()?;
        let minor = parts.next().unwrap_or(Ok(0)).ok()?;
        let patch = parts.next().unwrap_or(Ok(0)).ok()?;
        Some(Self(major, minor, patch))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// What the check found.
#[derive(Debug)]
pub(crate) struct Report {
    /// The declared version (the same in every published crate).
    pub(crate) declared: Version,
    /// The highest version a dependency needs, and which dependencies need it.
    pub(crate) needed: Version,
    pub(crate) needed_by: Vec<String>,
    /// Dependencies needing more than declared: `name version (rust-version)`.
    pub(crate) too_new: Vec<String>,
}

fn host() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .ok_or_else(|| "rustc -vV printed no host".to_owned())
}

/// `cargo metadata` of the workspace with all features, for the host.
fn metadata(root: &Path) -> Result<Value, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .current_dir(root)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            "--locked",
            "--filter-platform",
        ])
        .arg(host()?)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))
}

/// Checks the workspace at `root`.
pub(crate) fn check(root: &Path) -> Result<Report, String> {
    analyze(&metadata(root)?)
}

/// The check over `cargo metadata` output.
pub(crate) fn analyze(meta: &Value) -> Result<Report, String> {
    let packages: HashMap<&str, &Value> = meta["packages"]
        .as_array()
        .ok_or("no packages")?
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .ok_or("no workspace members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // Published: `publish` is not `[]` (false).
    let published: Vec<&str> = members
        .iter()
        .copied()
        .filter(|id| {
            packages
                .get(id)
                .is_some_and(|p| p["publish"].as_array().is_none_or(|a| !a.is_empty()))
        })
        .collect();
    let mut declared: BTreeMap<String, Option<Version>> = BTreeMap::new();
    for id in &published {
        let p = packages[id];
        let name = p["name"].as_str().unwrap_or("?").to_owned();
        declared.insert(name, p["rust_version"].as_str().and_then(Version::parse));
    }
    let undeclared: Vec<&String> = declared
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| n)
        .collect();
    if !undeclared.is_empty() {
        return Err(format!("no rust-version in {undeclared:?}"));
    }
    let versions: HashSet<Version> = declared.values().flatten().copied().collect();
    if versions.len() != 1 {
        return Err(format!(
            "the published crates declare different rust-versions: {declared:?}"
        ));
    }
    let declared = versions.into_iter().next().ok_or("no version")?;

    // Walk normal and build edges from the published crates.
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .ok_or("no resolve graph")?
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stack: Vec<&str> = published.clone();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(node) = nodes.get(id) else { continue };
        for dep in node["deps"].as_array().into_iter().flatten() {
            let shipped = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| matches!(k["kind"].as_str(), None | Some("build")));
            if shipped {
                if let Some(pkg) = dep["pkg"].as_str() {
                    stack.push(pkg);
                }
            }
        }
    }
    let mut needed = declared;
    let mut needed_by = Vec::new();
    let mut too_new = Vec::new();
    for id in seen {
        let Some(p) = packages.get(id) else { continue };
        if p["source"].is_null() {
            continue; // our own crates: checked above
        }
        let Some(v) = p["rust_version"].as_str().and_then(Version::parse) else {
            continue;
        };
        let label = format!(
            "{} {} (rust-version {v})",
            p["name"].as_str().unwrap_or("?"),
            p["version"].as_str().unwrap_or("?")
        );
        if v > declared {
            too_new.push(label.clone());
        }
        if v > needed {
            needed = v;
            needed_by.clear();
        }
        if v == needed {
            needed_by.push(label);
        }
    }
    too_new.sort();
    needed_by.sort();
    Ok(Report {
        declared,
        needed,
        needed_by,
        too_new,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_compare_numerically() {
        assert!(Version::parse("1.88").unwrap() > Version::parse("1.9.0").unwrap());
        assert_eq!(Version::parse("1.85"), Version::parse("1.85.0"));
        assert_eq!(Version::parse("x"), None);
    }

    /// A published crate with a normal dependency needing 1.90 and a dev-dependency needing
    /// 1.99: only the first counts.
    #[test]
    fn only_shipped_dependencies_count() {
        let meta = json!({
            "packages": [
                {"id": "a", "name": "a", "version": "0.1.0", "rust_version": "1.88", "publish": null, "source": null},
                {"id": "t", "name": "t", "version": "0.0.0", "rust_version": null, "publish": [], "source": null},
                {"id": "n", "name": "n", "version": "1.0.0", "rust_version": "1.90", "source": "registry"},
                {"id": "d", "name": "d", "version": "1.0.0", "rust_version": "1.99", "source": "registry"},
                {"id": "b", "name": "b", "version": "1.0.0", "rust_version": "1.70", "source": "registry"}
            ],
            "workspace_members": ["a", "t"],
            "resolve": {"nodes": [
                {"id": "a", "deps": [
                    {"pkg": "n", "dep_kinds": [{"kind": null}]},
                    {"pkg": "d", "dep_kinds": [{"kind": "dev"}]},
                    {"pkg": "b", "dep_kinds": [{"kind": "build"}]}
                ]},
                {"id": "t", "deps": [{"pkg": "d", "dep_kinds": [{"kind": null}]}]},
                {"id": "n", "deps": []}, {"id": "d", "deps": []}, {"id": "b", "deps": []}
            ]}
        });
        let r = analyze(&meta).unwrap();
        assert_eq!(r.declared, Version(1, 88, 0));
        assert_eq!(r.needed, Version(1, 90, 0));
        assert_eq!(r.too_new, ["n 1.0.0 (rust-version 1.90.0)"]);
    }

    /// The workspace's own declaration is true of its dependency graph.
    #[test]
    fn the_declared_msrv_covers_every_shipped_dependency() {
        let r = check(&crate::workspace_root()).expect("the check runs");
        assert!(
            r.too_new.is_empty(),
            "rust-version {} is lower than these dependencies need: {:?}",
            r.declared,
            r.too_new
        );
    }
}
