#![allow(missing_docs)]
//! Placeholder, replaced below.
fn main() {}
