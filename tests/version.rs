//! `postfach --version` names the version and the full target triple (issue 9: a binary copied
//! onto a board must say which build it is; `cross/smoke.sh` checks the cross builds' triples).

use std::process::Command;

#[test]
fn version_names_the_target_triple() {
    let out = Command::new(env!("CARGO_BIN_EXE_postfach"))
        .arg("--version")
        .output()
        .expect("run postfach --version");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let want = format!("postfach {} (", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&want), "{text:?}");
    // arch-vendor-os-env, e.g. x86_64-unknown-linux-gnu: more than `consts::ARCH`-`consts::OS`.
    let triple = text[want.len()..].trim_end().trim_end_matches(')');
    let triple = triple.split(',').next().unwrap();
    assert!(triple.starts_with(std::env::consts::ARCH), "{text:?}");
    assert!(
        triple.split('-').count() >= 3 && triple.contains(std::env::consts::OS),
        "{text:?}"
    );
}
