//! Library side of the `quant` command-line tool: every subcommand's work as a function that
//! writes to any `io::Write`, so tests can check the output.

pub mod float;
pub mod inspect;
pub mod kld;
pub mod model;
pub mod outliers;
pub mod quantize;
pub mod report;
