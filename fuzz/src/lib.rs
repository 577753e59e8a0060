//! The fuzz targets' bodies, shared by the libFuzzer binaries of `fuzz_targets/` and the
//! stable replay test of the workspace (`tests/fuzz.rs` includes `targets.rs` by path).

pub mod targets;
