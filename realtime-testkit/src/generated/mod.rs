//! Code `cargo xtask codegen` generates from the vendored spec.

pub(crate) mod schemas;
