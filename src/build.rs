//! Build script (`build = "src/build.rs"`: no files at the top level but the manifest):
//! hands the target triple to the binary for `postfach --version`. `std::env::consts` only
//! knows the architecture and OS, not the ABI (musl, gnueabihf) a deployment needs to match.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=POSTFACH_TARGET={target}");
    println!("cargo:rerun-if-changed=src/build.rs");
}
