//! The `quant` command-line tool.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Quantize LLM weights on the CPU and measure what it costs.
#[derive(Parser)]
#[command(name = "quant", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Quantize an embedded sample of real weights (MiniLM) into every format and report
    /// bits/weight and error per format. No download needed.
    Report,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Report => quant_cli::report::run(&mut std::io::stdout().lock()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quant: {e}");
            ExitCode::FAILURE
        }
    }
}
