//! Reading the ggml oracle vectors in `testdata/golden/` (copied from `../shared/golden/quant`
//! by `scripts/import-golden.py`). Shared by the golden tests of quant-core and quant-kernels
//! (included with `#[path]`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `testdata/golden` of the repository.
pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden")
}

/// One oracle case of one type.
#[derive(Debug, Clone)]
pub struct Case {
    /// ggml's type name (folder name), e.g. `q4_K`.
    pub type_name: String,
    /// Case name, e.g. `gauss`.
    pub name: String,
    /// Number of values.
    pub n: usize,
    dir: PathBuf,
    json: Value,
}

impl Case {
    /// The file of role `key` (`input`, `ref`, `deq`, `chunk`, `chunk_deq`, `imatrix`, `imat_q`,
    /// `act`, `act_q`, `act_ref_q`), if the case has one.
    pub fn path(&self, key: &str) -> Option<PathBuf> {
        self.json["files"][key].as_str().map(|f| self.dir.join(f))
    }

    /// Raw bytes of file `key`.
    pub fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.path(key)
            .map(|p| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
    }

    /// f32 values of file `key`.
    pub fn f32s(&self, key: &str) -> Option<Vec<f32>> {
        self.bytes(key).map(|b| {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        })
    }

    /// The input row.
    pub fn input(&self) -> Vec<f32> {
        self.f32s("input").expect("every case has an input")
    }

    /// `.chunk.q` bytes (equal to `.ref.q` unless stored separately).
    pub fn chunk_bytes(&self) -> Option<Vec<u8>> {
        self.bytes("chunk").or_else(|| {
            if self.json["chunk_equals_ref"].as_bool() == Some(true) {
                self.bytes("ref")
            } else {
                None
            }
        })
    }

    /// The bytes the activation quantizer must produce: `.act.ref.q` if present, else `.act.q`.
    pub fn act_ref_bytes(&self) -> Option<Vec<u8>> {
        self.bytes("act_ref_q").or_else(|| self.bytes("act_q"))
    }

    /// Byte ranges `[start, end)` of `.ref.q` that ggml leaves unspecified (iq4_nl only).
    pub fn unspecified_ref_bytes(&self) -> Vec<(usize, usize)> {
        ranges(&self.json["ref_unspecified_bytes"])
    }

    /// Value ranges of `.deq.f32` that are ±0 with unspecified sign (iq4_nl only).
    pub fn unspecified_zero_sign(&self) -> Vec<(usize, usize)> {
        ranges(&self.json["deq_unspecified_zero_sign"])
    }

    /// ggml's dot product record, if the type has one: (vec_dot bits, vec_dot_generic bits,
    /// f64_abs_sum).
    pub fn dot(&self) -> Option<Dot> {
        let d = self.json.get("dot")?;
        if d.is_null() {
            return None;
        }
        Some(Dot {
            vec_dot: f32::from_bits(d["vec_dot_bits"].as_u64()? as u32),
            vec_dot_generic: f32::from_bits(d["vec_dot_generic_bits"].as_u64()? as u32),
            f64_abs_sum: d["f64_abs_sum"].as_f64()?,
        })
    }
}

/// ggml's recorded dot products for a case.
#[derive(Debug, Clone, Copy)]
pub struct Dot {
    /// ggml's SIMD kernel result.
    pub vec_dot: f32,
    /// ggml's portable scalar kernel result.
    pub vec_dot_generic: f32,
    /// Σ|w·a| in f64, for the tolerance `1e-5 · sqrt(n/32) · f64_abs_sum`.
    pub f64_abs_sum: f64,
}

fn ranges(v: &Value) -> Vec<(usize, usize)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r[0].as_u64().unwrap() as usize,
                        r[1].as_u64().unwrap() as usize,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// All cases of ggml type `type_name` (folder name, e.g. `q4_K`).
pub fn cases(type_name: &str) -> Vec<Case> {
    let dir = golden_dir().join(type_name);
    let text = std::fs::read_to_string(dir.join("cases.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let json: Value = serde_json::from_str(&text).expect("valid cases.json");
    json["cases"]
        .as_array()
        .expect("cases array")
        .iter()
        .map(|c| Case {
            type_name: type_name.to_owned(),
            name: c["name"].as_str().unwrap().to_owned(),
            n: c["n"].as_u64().unwrap() as usize,
            dir: dir.clone(),
            json: c.clone(),
        })
        .collect()
}

/// Compare dequantized values bit for bit (NaN == NaN; ±0 allowed where `zero_sign_free`).
pub fn assert_bits_eq(what: &str, got: &[f32], want: &[f32], zero_sign_free: &[(usize, usize)]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let free = zero_sign_free.iter().any(|&(a, b)| (a..b).contains(&i));
        let ok = g.to_bits() == w.to_bits()
            || (g.is_nan() && w.is_nan())
            || (free && *g == 0.0 && *w == 0.0);
        assert!(
            ok,
            "{what}: value {i}: got {g:e} ({:#010x}), ggml {w:e} ({:#010x})",
            g.to_bits(),
            w.to_bits()
        );
    }
}

/// Compare bytes, skipping `skip` ranges, reporting the first differing block.
pub fn assert_bytes_eq(
    what: &str,
    got: &[u8],
    want: &[u8],
    block_bytes: usize,
    skip: &[(usize, usize)],
) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if skip.iter().any(|&(a, b)| (a..b).contains(&i)) {
            continue;
        }
        assert!(
            g == w,
            "{what}: byte {i} (block {}, offset {}): got {g:#04x}, ggml {w:#04x}\n got block {:02x?}\nggml block {:02x?}",
            i / block_bytes,
            i % block_bytes,
            &got[i / block_bytes * block_bytes..(i / block_bytes + 1) * block_bytes],
            &want[i / block_bytes * block_bytes..(i / block_bytes + 1) * block_bytes],
        );
    }
}
