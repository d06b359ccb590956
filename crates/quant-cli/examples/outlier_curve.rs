//! Error vs bits/weight with and without outlier tables, on every tensor of a real safetensors
//! model (all-MiniLM-L6-v2 from `scripts/fetch-data.sh minilm`).
//!
//! ```sh
//! cargo run --release -p quant-cli --example outlier_curve -- data/minilm.safetensors docs/
//! ```
//! Writes `outliers-curve.svg` and `outliers-table.md` into the output folder and prints the table,
//! per-tensor results and the findings.

use std::path::PathBuf;

use quant_cli::outliers::{aggregate, findings, tensor_points, write_svg, write_table};
use quant_gguf::SafetensorsFile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "data/minilm.safetensors".into()),
    );
    let out_dir = PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let st = SafetensorsFile::open(&model)?;
    let mut all = Vec::new();
    let mut stdout = std::io::stdout().lock();
    use std::io::Write;
    for t in st.tensors()? {
        if t.shape.len() != 2 {
            continue; // biases and norms: not quantized by converters either
        }
        let w = st.tensor_f32(&t.name)?;
        let (rows, cols) = (t.n_rows(), t.row_len());
        let s = quant_core::stats::tensor_stats(&w, rows, cols);
        let pts = tensor_points(&t.name, &w, rows, cols, None)?;
        writeln!(
            stdout,
            "{:<48} {:>5}×{:<5} max/σ {:>6.1}  kurtosis {:>7.1}  >20σ {:>3}",
            t.name, rows, cols, s.max_over_sigma, s.excess_kurtosis, s.above_20_sigma,
        )?;
        if t.name == "encoder.layer.0.output.dense.weight" {
            writeln!(
                stdout,
                "\n{} alone (the tensor with the 175σ outlier):",
                t.name
            )?;
            write_table(&mut stdout, &aggregate(&pts))?;
            writeln!(stdout)?;
        }
        all.extend(pts);
    }
    let agg = aggregate(&all);
    writeln!(stdout)?;
    write_table(&mut stdout, &agg)?;
    writeln!(stdout)?;
    for f in findings(&agg) {
        writeln!(stdout, "- {f}")?;
    }
    std::fs::create_dir_all(&out_dir)?;
    let mut md = std::fs::File::create(out_dir.join("outliers-table.md"))?;
    write_table(&mut md, &agg)?;
    write_svg(
        &out_dir.join("outliers-curve.svg"),
        &agg,
        "all-MiniLM-L6-v2: error vs bits/weight, outlier tables at 0.01/0.1/1 %",
    )?;
    Ok(())
}
