//! Arbitrary bytes → the GGUF reader: never panics, never allocates more than the input justifies
//! (every count is bounded by the remaining bytes before allocation), and a file that parses can
//! be written back and re-parsed to the same structure, with every tensor dequantizable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quant_gguf::{Gguf, GgufWriter};

fuzz_target!(|data: &[u8]| {
    let Ok(g) = Gguf::parse(data) else { return };
    for t in &g.tensors {
        if t.n_elements() <= 1 << 16 {
            let _ = g.tensor_f32(t);
        }
    }
    let mut out = Vec::new();
    GgufWriter::from_gguf(&g).write_to(&mut out).expect("writing to memory");
    let again = Gguf::parse(&out).expect("a written file parses");
    assert_eq!(again.metadata.len(), g.metadata.len());
    assert_eq!(again.tensors.len(), g.tensors.len());
    for (a, b) in again.tensors.iter().zip(&g.tensors) {
        assert_eq!((&a.name, &a.dims, a.format), (&b.name, &b.dims, b.format));
        assert_eq!(again.tensor_data(a), g.tensor_data(b));
    }
});
