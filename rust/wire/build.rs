// Declares `cfg(fuzzing)` (set by cargo-fuzz) so rustc's check-cfg lint knows it.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(fuzzing)");
}
