//! House rules that code review would otherwise have to remember: the sans-IO crates stay free
//! of the runtime, and library crates never depend on binaries.

use std::path::Path;

fn manifest(krate: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("Cargo.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dependencies(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && !line.is_empty() && !line.starts_with('#') {
            deps.push(line.to_owned());
        }
    }
    deps
}

#[test]
fn sans_io_crates_do_not_depend_on_the_runtime() {
    for krate in ["crates/cache-store", "crates/cache-ring"] {
        for dep in dependencies(&manifest(krate)) {
            assert!(
                !dep.starts_with("tokio") && !dep.starts_with("axum"),
                "{krate} depends on {dep}"
            );
        }
    }
    // The codecs and the failure detector are pure; only an optional feature (`transport`,
    // `runtime`) brings the runtime in, for the one module that does I/O.
    for krate in ["crates/cache-wire", "crates/cache-health"] {
        for dep in dependencies(&manifest(krate)) {
            if dep.starts_with("tokio") || dep.starts_with("axum") {
                assert!(
                    dep.contains("optional = true"),
                    "{krate} depends on {dep} unconditionally"
                );
            }
        }
    }
}

#[test]
fn libraries_do_not_depend_on_binaries() {
    for krate in [
        "crates/cache-store",
        "crates/cache-ring",
        "crates/cache-wire",
        "crates/cache-health",
        "crates/cache-client",
    ] {
        for dep in dependencies(&manifest(krate)) {
            for bin in ["cache-node", "cache-proxy", "xtask"] {
                assert!(!dep.starts_with(bin), "{krate} depends on the binary {bin}");
            }
        }
    }
}
