//! Float anatomy: f32, f16, bf16, fp8 E4M3 and E5M2 decomposed into sign, exponent and
//! significand, and round-to-nearest-even conversions between them.
//!
//! Every format here is a binary floating-point format described by three numbers: the width of
//! its exponent field, the width of its significand (mantissa) field and its exponent bias. A bit
//! pattern `s | e | m` means
//!
//! * `e == 0`: zero (`m == 0`) or a subnormal `(-1)^s · 0.m · 2^(1 − bias)`,
//! * otherwise a normal number `(-1)^s · 1.m · 2^(e − bias)`,
//! * except for the special patterns: in IEEE-like formats (f32, f16, bf16, E5M2) an all-ones
//!   exponent is infinity (`m == 0`) or NaN (`m != 0`); the OCP fp8 format E4M3 has no infinity and
//!   only one NaN pattern per sign (`S.1111.111`), so its largest exponent holds normal numbers up
//!   to 448.
//!
//! | format | bits | exponent | significand | bias | max finite | infinity |
//! |--------|------|----------|-------------|------|------------|----------|
//! | `f32`  | 32   | 8        | 23          | 127  | ≈3.4028e38 | yes      |
//! | `f16`  | 16   | 5        | 10          | 15   | 65504      | yes      |
//! | `bf16` | 16   | 8        | 7           | 127  | ≈3.3895e38 | yes      |
//! | `e4m3` | 8    | 4        | 3           | 7    | 448        | no       |
//! | `e5m2` | 8    | 5        | 2           | 15   | 57344      | yes      |
//!
//! Every value of these formats is a dyadic rational `m · 2^k`, so it has a finite decimal
//! expansion, which [`FloatFormat::exact_decimal`] prints digit for digit.
//!
//! ```
//! use quant_core::float::{FloatClass, FloatFormat, Saturation};
//!
//! let bits = FloatFormat::F32.encode(0.1, Saturation::NonSaturating);
//! assert_eq!(bits, 0.1f32.to_bits());
//! assert_eq!(FloatFormat::F32.exact_decimal(bits), "0.100000001490116119384765625");
//!
//! let e4m3 = FloatFormat::E4M3.encode(0.1, Saturation::NonSaturating);
//! let parts = FloatFormat::E4M3.decompose(e4m3);
//! assert_eq!(parts.class, FloatClass::Normal);
//! assert_eq!((parts.exponent_field, parts.significand_field), (3, 5)); // 1.101b · 2^-4
//! assert_eq!(parts.exact_decimal(), "0.1015625");
//!
//! // Overflow: E4M3 has no infinity.
//! assert!(FloatFormat::E4M3.to_f64(FloatFormat::E4M3.encode(1000.0, Saturation::NonSaturating)).is_nan());
//! assert_eq!(FloatFormat::E4M3.to_f64(FloatFormat::E4M3.encode(1000.0, Saturation::Saturating)), 448.0);
//! ```

use core::fmt;
use core::str::FromStr;

use bytemuck::{Pod, Zeroable};

use crate::Error;

/// One of the binary floating-point formats whose anatomy this module describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FloatFormat {
    /// IEEE 754 binary32: 1 sign, 8 exponent, 23 significand bits, bias 127.
    F32,
    /// IEEE 754 binary16: 1 sign, 5 exponent, 10 significand bits, bias 15.
    F16,
    /// bfloat16 (the upper half of an f32): 1 sign, 8 exponent, 7 significand bits, bias 127.
    Bf16,
    /// OCP fp8 E4M3 (`float8_e4m3fn`): 4 exponent, 3 significand bits, bias 7, no infinity,
    /// NaN = `S.1111.111`, largest finite value 448.
    E4M3,
    /// OCP fp8 E5M2: 5 exponent, 2 significand bits, bias 15, IEEE-like infinities and NaNs,
    /// largest finite value 57344.
    E5M2,
}

/// What to do with a value whose magnitude rounds beyond the largest finite value of the target
/// format (and with infinite input).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Saturation {
    /// IEEE behaviour: overflow gives ±infinity, and ±infinity stays ±infinity. E4M3, which has no
    /// infinity, gives NaN instead (as `float8_e4m3fn` conversions in ml_dtypes and PyTorch do).
    #[default]
    NonSaturating,
    /// Clamp: overflow and ±infinity give ±(largest finite value) (the OCP "saturating" mode,
    /// CUDA's `__NV_SATFINITE`). NaN stays NaN.
    Saturating,
}

/// The class of a floating-point bit pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FloatClass {
    /// ±0.
    Zero,
    /// Exponent field 0, significand non-zero: `0.m · 2^(1 − bias)`.
    Subnormal,
    /// A normal number `1.m · 2^(e − bias)`.
    Normal,
    /// ±infinity (not in E4M3).
    Infinite,
    /// Not a number.
    Nan,
}

impl FloatClass {
    /// Lowercase name: `"zero"`, `"subnormal"`, `"normal"`, `"infinite"`, `"nan"`.
    pub const fn name(self) -> &'static str {
        match self {
            FloatClass::Zero => "zero",
            FloatClass::Subnormal => "subnormal",
            FloatClass::Normal => "normal",
            FloatClass::Infinite => "infinite",
            FloatClass::Nan => "nan",
        }
    }

    /// Whether the class is zero, subnormal or normal.
    pub const fn is_finite(self) -> bool {
        matches!(
            self,
            FloatClass::Zero | FloatClass::Subnormal | FloatClass::Normal
        )
    }
}

impl fmt::Display for FloatClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FloatFormat {
    /// Every format, widest first.
    pub const ALL: [FloatFormat; 5] = [
        FloatFormat::F32,
        FloatFormat::F16,
        FloatFormat::Bf16,
        FloatFormat::E4M3,
        FloatFormat::E5M2,
    ];

    /// Lowercase name: `"f32"`, `"f16"`, `"bf16"`, `"e4m3"`, `"e5m2"`.
    pub const fn name(self) -> &'static str {
        match self {
            FloatFormat::F32 => "f32",
            FloatFormat::F16 => "f16",
            FloatFormat::Bf16 => "bf16",
            FloatFormat::E4M3 => "e4m3",
            FloatFormat::E5M2 => "e5m2",
        }
    }

    /// Total width in bits.
    pub const fn bits(self) -> u32 {
        match self {
            FloatFormat::F32 => 32,
            FloatFormat::F16 | FloatFormat::Bf16 => 16,
            FloatFormat::E4M3 | FloatFormat::E5M2 => 8,
        }
    }

    /// Width of the exponent field.
    pub const fn exponent_bits(self) -> u32 {
        match self {
            FloatFormat::F32 | FloatFormat::Bf16 => 8,
            FloatFormat::F16 | FloatFormat::E5M2 => 5,
            FloatFormat::E4M3 => 4,
        }
    }

    /// Width of the significand (mantissa) field, without the implicit leading bit.
    pub const fn mantissa_bits(self) -> u32 {
        match self {
            FloatFormat::F32 => 23,
            FloatFormat::F16 => 10,
            FloatFormat::Bf16 => 7,
            FloatFormat::E4M3 => 3,
            FloatFormat::E5M2 => 2,
        }
    }

    /// Exponent bias: a normal number's value is `1.m · 2^(exponent_field − bias)`.
    pub const fn bias(self) -> i32 {
        (1 << (self.exponent_bits() - 1)) - 1
    }

    /// Whether the format has infinities (all but E4M3).
    pub const fn has_infinity(self) -> bool {
        !matches!(self, FloatFormat::E4M3)
    }

    /// Mask of the valid bits of a pattern (`2^bits − 1`).
    pub const fn bit_mask(self) -> u32 {
        if self.bits() == 32 {
            u32::MAX
        } else {
            (1 << self.bits()) - 1
        }
    }

    const fn sign_mask(self) -> u32 {
        1 << (self.bits() - 1)
    }

    const fn exponent_mask(self) -> u32 {
        (1 << self.exponent_bits()) - 1
    }

    const fn mantissa_mask(self) -> u32 {
        (1 << self.mantissa_bits()) - 1
    }

    /// Smallest normal exponent, `1 − bias` (also the exponent of the subnormals).
    pub const fn min_exponent(self) -> i32 {
        1 - self.bias()
    }

    /// Exponent of the largest finite value (`bias` for IEEE-like formats, `bias + 1` for E4M3).
    pub const fn max_exponent(self) -> i32 {
        match self {
            FloatFormat::E4M3 => self.bias() + 1,
            _ => self.bias(),
        }
    }

    /// Bit pattern of the largest finite value (positive).
    pub const fn max_finite_bits(self) -> u32 {
        match self {
            // S.1111.110
            FloatFormat::E4M3 => 0x7e,
            // exponent all-ones minus one, significand all ones
            _ => ((self.exponent_mask() - 1) << self.mantissa_bits()) | self.mantissa_mask(),
        }
    }

    /// Bit pattern of +infinity, `None` for E4M3.
    pub const fn infinity_bits(self) -> Option<u32> {
        if self.has_infinity() {
            Some(self.exponent_mask() << self.mantissa_bits())
        } else {
            None
        }
    }

    /// Bit pattern of the canonical (quiet, positive) NaN: the top significand bit set
    /// (`0x7fc00000`, `0x7e00`, `0x7fc0`, `0x7e`), and `0x7f` for E4M3.
    pub const fn nan_bits(self) -> u32 {
        match self {
            FloatFormat::E4M3 => 0x7f,
            _ => (self.exponent_mask() << self.mantissa_bits()) | (1 << (self.mantissa_bits() - 1)),
        }
    }

    /// The largest finite value.
    pub fn max_finite(self) -> f64 {
        self.to_f64(self.max_finite_bits())
    }

    /// The smallest positive normal value, `2^(1 − bias)`.
    pub fn min_positive_normal(self) -> f64 {
        pow2(self.min_exponent())
    }

    /// The smallest positive subnormal value, `2^(1 − bias − mantissa_bits)`.
    pub fn min_positive_subnormal(self) -> f64 {
        pow2(self.min_exponent() - self.mantissa_bits() as i32)
    }

    /// The class of a bit pattern (bits above [`FloatFormat::bits`] are ignored).
    pub const fn classify(self, bits: u32) -> FloatClass {
        let bits = bits & self.bit_mask();
        let e = (bits >> self.mantissa_bits()) & self.exponent_mask();
        let m = bits & self.mantissa_mask();
        if e == 0 {
            if m == 0 {
                FloatClass::Zero
            } else {
                FloatClass::Subnormal
            }
        } else if e == self.exponent_mask() {
            match self {
                FloatFormat::E4M3 => {
                    if m == self.mantissa_mask() {
                        FloatClass::Nan
                    } else {
                        FloatClass::Normal
                    }
                }
                _ => {
                    if m == 0 {
                        FloatClass::Infinite
                    } else {
                        FloatClass::Nan
                    }
                }
            }
        } else {
            FloatClass::Normal
        }
    }

    /// Split a bit pattern into its fields (bits above [`FloatFormat::bits`] are ignored).
    ///
    /// ```
    /// use quant_core::float::{FloatClass, FloatFormat};
    /// let p = FloatFormat::F16.decompose(0x7bff); // 65504, the largest f16
    /// assert_eq!((p.sign, p.exponent_field, p.significand_field), (false, 30, 0x3ff));
    /// assert_eq!(p.unbiased_exponent, 15);
    /// assert_eq!(p.class, FloatClass::Normal);
    /// assert_eq!(p.value(), 65504.0);
    /// ```
    pub const fn decompose(self, bits: u32) -> FloatParts {
        let bits = bits & self.bit_mask();
        let exponent_field = (bits >> self.mantissa_bits()) & self.exponent_mask();
        let class = self.classify(bits);
        let unbiased_exponent = match class {
            FloatClass::Zero | FloatClass::Subnormal => self.min_exponent(),
            _ => exponent_field as i32 - self.bias(),
        };
        FloatParts {
            format: self,
            bits,
            sign: bits & self.sign_mask() != 0,
            exponent_field,
            significand_field: bits & self.mantissa_mask(),
            class,
            unbiased_exponent,
        }
    }

    /// Assemble a bit pattern from its fields; `None` if a field does not fit its width.
    ///
    /// ```
    /// use quant_core::float::FloatFormat;
    /// assert_eq!(FloatFormat::E5M2.compose(true, 15, 0b10), Some(0b1_01111_10)); // -1.5
    /// assert_eq!(FloatFormat::E5M2.compose(false, 32, 0), None);
    /// ```
    pub const fn compose(
        self,
        sign: bool,
        exponent_field: u32,
        significand_field: u32,
    ) -> Option<u32> {
        if exponent_field > self.exponent_mask() || significand_field > self.mantissa_mask() {
            return None;
        }
        let s = if sign { self.sign_mask() } else { 0 };
        Some(s | (exponent_field << self.mantissa_bits()) | significand_field)
    }

    /// The exact value of a bit pattern as an f64 (every value of these formats is exactly
    /// representable in f64; NaN keeps its sign, not its payload).
    pub fn to_f64(self, bits: u32) -> f64 {
        let p = self.decompose(bits);
        let magnitude = match p.class {
            FloatClass::Zero => 0.0,
            FloatClass::Infinite => f64::INFINITY,
            FloatClass::Nan => f64::NAN,
            FloatClass::Subnormal | FloatClass::Normal => {
                // < 2^24, exact in f64; the power of two is within f64's normal range.
                p.significand() as f64 * pow2(p.unbiased_exponent - self.mantissa_bits() as i32)
            }
        };
        if p.sign { -magnitude } else { magnitude }
    }

    /// The value of a bit pattern as an f32 (exact: every value of these formats is an f32 value).
    pub fn to_f32(self, bits: u32) -> f32 {
        self.to_f64(bits) as f32
    }

    /// Round `x` to the nearest value of the format, ties to even, and return its bit pattern.
    ///
    /// The rounding is done once, exactly, from the f64 value (so converting an f32 gives the
    /// same result as converting directly from f32). Values whose magnitude is below half the
    /// smallest subnormal become ±0 with the sign of `x`. Overflow (a magnitude that rounds above
    /// [`FloatFormat::max_finite`]) and infinite input follow `saturation`; see [`Saturation`].
    /// NaN gives the canonical NaN ([`FloatFormat::nan_bits`]) with the sign of `x`.
    ///
    /// ```
    /// use quant_core::float::{FloatFormat, Saturation::*};
    /// let e5m2 = FloatFormat::E5M2;
    /// assert_eq!(e5m2.to_f64(e5m2.encode(1.125, NonSaturating)), 1.0); // tie → even (1.00b)
    /// assert_eq!(e5m2.to_f64(e5m2.encode(1.375, NonSaturating)), 1.5); // tie → even (1.10b)
    /// assert_eq!(e5m2.to_f64(e5m2.encode(1e6, NonSaturating)), f64::INFINITY);
    /// assert_eq!(e5m2.to_f64(e5m2.encode(1e6, Saturating)), 57344.0);
    /// ```
    pub fn encode(self, x: f64, saturation: Saturation) -> u32 {
        let sign = if x.is_sign_negative() {
            self.sign_mask()
        } else {
            0
        };
        if x.is_nan() {
            return sign | self.nan_bits();
        }
        let overflow = sign
            | match (saturation, self.infinity_bits()) {
                (Saturation::Saturating, _) => self.max_finite_bits(),
                (Saturation::NonSaturating, Some(inf)) => inf,
                (Saturation::NonSaturating, None) => self.nan_bits(),
            };
        if x.is_infinite() {
            return overflow;
        }
        if x == 0.0 {
            return sign;
        }
        // |x| = m · 2^e exactly, m < 2^53.
        let xb = x.abs().to_bits();
        let (m, e) = {
            let field = (xb >> 52) as i32;
            let frac = xb & ((1u64 << 52) - 1);
            if field == 0 {
                (frac, -1074)
            } else {
                (frac | (1 << 52), field - 1075)
            }
        };
        let p = self.mantissa_bits() as i32;
        let top = e + 63 - m.leading_zeros() as i32; // floor(log2 |x|)
        // Exponent of the target's unit in the last place at |x| (subnormals share min_exponent).
        let q = top.max(self.min_exponent()) - p;
        let shift = q - e;
        let n: u64 = if shift <= 0 {
            // |x| has no more precision than the target here: exact (n < 2^(p+1)).
            m << (-shift)
        } else if shift > 60 {
            // m < 2^53 ≤ half a unit: rounds to zero.
            0
        } else {
            let kept = m >> shift;
            let rem = m & ((1u64 << shift) - 1);
            let half = 1u64 << (shift - 1);
            if rem > half || (rem == half && kept & 1 == 1) {
                kept + 1
            } else {
                kept
            }
        };
        if n == 0 {
            return sign;
        }
        // value = n · 2^q with n < 2^(p+1); a carry may have made n = 2^(p+1).
        let (n, q) = if n >> (p + 1) != 0 {
            (n >> 1, q + 1)
        } else {
            (n, q)
        };
        let magnitude: u64 = if n >> p == 0 {
            // Subnormal (q is the subnormal exponent): exponent field 0.
            n
        } else {
            let field = i64::from(q + p + self.bias());
            (field as u64) << p | (n & ((1 << p) - 1))
        };
        if magnitude > u64::from(self.max_finite_bits()) {
            return overflow;
        }
        sign | magnitude as u32
    }

    /// [`FloatFormat::encode`] of an f32 (exactly the same as encoding `x as f64`).
    pub fn encode_f32(self, x: f32, saturation: Saturation) -> u32 {
        self.encode(f64::from(x), saturation)
    }

    /// Convert a bit pattern of `self` into `target` (round to nearest even; see
    /// [`FloatFormat::encode`]).
    ///
    /// ```
    /// use quant_core::float::{FloatFormat, Saturation};
    /// // f16 65504 is above E4M3's range: NaN, or 448 when saturating.
    /// let b = FloatFormat::F16.convert(0x7bff, FloatFormat::E4M3, Saturation::Saturating);
    /// assert_eq!(b, 0x7e);
    /// ```
    pub fn convert(self, bits: u32, target: FloatFormat, saturation: Saturation) -> u32 {
        target.encode(self.to_f64(bits), saturation)
    }

    /// The exact decimal value of a bit pattern: every digit, no exponent notation, no trailing
    /// zeros after the point; `"0"`/`"-0"`, `"inf"`/`"-inf"`, `"NaN"`.
    ///
    /// ```
    /// use quant_core::float::FloatFormat;
    /// assert_eq!(FloatFormat::F32.exact_decimal(0.1f32.to_bits()), "0.100000001490116119384765625");
    /// assert_eq!(FloatFormat::F16.exact_decimal(0x0001), "0.000000059604644775390625"); // 2^-24
    /// assert_eq!(FloatFormat::E4M3.exact_decimal(0xfe), "-448");
    /// ```
    pub fn exact_decimal(self, bits: u32) -> String {
        let p = self.decompose(bits);
        match p.class {
            FloatClass::Nan => "NaN".to_owned(),
            FloatClass::Infinite => if p.sign { "-inf" } else { "inf" }.to_owned(),
            _ => exact_decimal_parts(
                p.sign,
                u64::from(p.significand()),
                p.unbiased_exponent - self.mantissa_bits() as i32,
            ),
        }
    }
}

impl fmt::Display for FloatFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for FloatFormat {
    type Err = Error;

    /// Parses (ASCII case-insensitive) `f32`/`fp32`/`float32`, `f16`/`fp16`/`half`/`float16`,
    /// `bf16`/`bfloat16`, `e4m3`/`fp8_e4m3`/`e4m3fn`/`float8_e4m3fn`, `e5m2`/`fp8_e5m2`/`float8_e5m2`.
    ///
    /// # Errors
    /// [`Error::UnknownFormat`] for any other string.
    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "f32" | "fp32" | "float32" | "float" => FloatFormat::F32,
            "f16" | "fp16" | "float16" | "half" => FloatFormat::F16,
            "bf16" | "bfloat16" => FloatFormat::Bf16,
            "e4m3" | "fp8_e4m3" | "e4m3fn" | "fp8_e4m3fn" | "float8_e4m3fn" | "fp8" => {
                FloatFormat::E4M3
            }
            "e5m2" | "fp8_e5m2" | "float8_e5m2" => FloatFormat::E5M2,
            _ => return Err(Error::UnknownFormat(s.to_owned())),
        })
    }
}

/// A bit pattern of a [`FloatFormat`] split into its fields.
///
/// Its [`Display`](fmt::Display) prints a multi-line breakdown (what `quant float` shows):
///
/// ```
/// use quant_core::float::FloatFormat;
/// let text = FloatFormat::E4M3.decompose(0x3c).to_string();
/// assert!(text.starts_with("e4m3 0x3c = 0 0111 100"));
/// assert!(text.contains("exponent:    0111 = 7, unbiased 0 (bias 7)"));
/// assert!(text.contains("value:       1.5"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FloatParts {
    /// The format the pattern belongs to.
    pub format: FloatFormat,
    /// The whole pattern (the low [`FloatFormat::bits`] bits).
    pub bits: u32,
    /// The sign bit (`true` = negative).
    pub sign: bool,
    /// The biased exponent field.
    pub exponent_field: u32,
    /// The significand field, without the implicit leading bit.
    pub significand_field: u32,
    /// Zero, subnormal, normal, infinite or NaN.
    pub class: FloatClass,
    /// The exponent `k` of the value `significand · 2^(k − mantissa_bits)`: `exponent_field − bias`
    /// for normals, `1 − bias` for zeros and subnormals (their effective exponent), and
    /// `exponent_field − bias` (meaningless) for infinities and NaNs.
    pub unbiased_exponent: i32,
}

impl FloatParts {
    /// The significand as an integer including the implicit leading bit (`1.m` scaled by
    /// `2^mantissa_bits` for normals, `0.m` scaled likewise for zeros and subnormals).
    pub const fn significand(&self) -> u32 {
        match self.class {
            FloatClass::Normal => self.significand_field | (1 << self.format.mantissa_bits()),
            _ => self.significand_field,
        }
    }

    /// Re-assemble the bit pattern from the fields.
    pub const fn to_bits(&self) -> u32 {
        let s = if self.sign {
            1 << (self.format.bits() - 1)
        } else {
            0
        };
        s | (self.exponent_field << self.format.mantissa_bits()) | self.significand_field
    }

    /// The value as an f64 (exact).
    pub fn value(&self) -> f64 {
        self.format.to_f64(self.bits)
    }

    /// The exact decimal value (see [`FloatFormat::exact_decimal`]).
    pub fn exact_decimal(&self) -> String {
        self.format.exact_decimal(self.bits)
    }

    /// The bits as `sign exponent significand` groups of binary digits, e.g. `"0 0111 100"`.
    pub fn bit_string(&self) -> String {
        format!(
            "{} {:0ew$b} {:0mw$b}",
            u8::from(self.sign),
            self.exponent_field,
            self.significand_field,
            ew = self.format.exponent_bits() as usize,
            mw = self.format.mantissa_bits() as usize,
        )
    }
}

impl fmt::Display for FloatParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fm = self.format;
        let mw = fm.mantissa_bits() as usize;
        let hex_w = fm.bits() as usize / 4;
        writeln!(f, "{fm} 0x{:0hex_w$x} = {}", self.bits, self.bit_string())?;
        writeln!(
            f,
            "  sign:        {} ({})",
            u8::from(self.sign),
            if self.sign { "-" } else { "+" }
        )?;
        writeln!(
            f,
            "  exponent:    {:0ew$b} = {}, unbiased {} (bias {})",
            self.exponent_field,
            self.exponent_field,
            self.unbiased_exponent,
            fm.bias(),
            ew = fm.exponent_bits() as usize,
        )?;
        let lead = if self.class == FloatClass::Normal {
            1
        } else {
            0
        };
        writeln!(
            f,
            "  significand: {:0mw$b} ({lead}.{:0mw$b}b = {}/{})",
            self.significand_field,
            self.significand_field,
            self.significand(),
            1u64 << mw,
        )?;
        writeln!(f, "  class:       {}", self.class)?;
        match self.class {
            FloatClass::Normal | FloatClass::Subnormal => writeln!(
                f,
                "  formula:     {}{lead}.{:0mw$b}b × 2^{}",
                if self.sign { "-" } else { "+" },
                self.significand_field,
                self.unbiased_exponent,
            )?,
            _ => {}
        }
        write!(f, "  value:       {}", self.exact_decimal())
    }
}

/// `2^k` as an f64, for `k` in f64's normal exponent range `[-1022, 1023]`.
fn pow2(k: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&k));
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// The exact decimal value of an f64 (every digit; see [`FloatFormat::exact_decimal`]).
///
/// ```
/// assert_eq!(quant_core::float::exact_decimal_f64(0.1), "0.1000000000000000055511151231257827021181583404541015625");
/// assert_eq!(quant_core::float::exact_decimal_f64(-2.5e3), "-2500");
/// ```
pub fn exact_decimal_f64(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    let b = x.to_bits();
    let field = ((b >> 52) & 0x7ff) as i32;
    let frac = b & ((1 << 52) - 1);
    let (m, e) = if field == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), field - 1075)
    };
    exact_decimal_parts(x.is_sign_negative(), m, e)
}

/// Decimal digits of `(-1)^neg · m · 2^e`, exactly.
fn exact_decimal_parts(negative: bool, m: u64, e: i32) -> String {
    let sign = if negative { "-" } else { "" };
    if m == 0 {
        return format!("{sign}0");
    }
    let mut n = BigUint::from_u64(m);
    let frac_digits = if e >= 0 {
        n.shl(e as u32);
        0
    } else {
        // m · 2^e = m · 5^k / 10^k with k = −e.
        let k = (-e) as u32;
        for _ in 0..k / 13 {
            n.mul_small(1_220_703_125); // 5^13
        }
        n.mul_small(5u32.pow(k % 13));
        k as usize
    };
    let digits = n.into_decimal();
    let s = if frac_digits == 0 {
        digits
    } else {
        let padded = if digits.len() <= frac_digits {
            format!("{}{digits}", "0".repeat(frac_digits + 1 - digits.len()))
        } else {
            digits
        };
        let (int, frac) = padded.split_at(padded.len() - frac_digits);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            int.to_owned()
        } else {
            format!("{int}.{frac}")
        }
    };
    format!("{sign}{s}")
}

/// A minimal unsigned big integer (little-endian base-2^32 limbs): just what exact binary to
/// decimal conversion needs.
struct BigUint {
    limbs: Vec<u32>,
}

impl BigUint {
    fn from_u64(v: u64) -> Self {
        BigUint {
            limbs: vec![v as u32, (v >> 32) as u32],
        }
    }

    fn mul_small(&mut self, k: u32) {
        let mut carry = 0u64;
        for l in &mut self.limbs {
            let t = u64::from(*l) * u64::from(k) + carry;
            *l = t as u32;
            carry = t >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
    }

    fn shl(&mut self, bits: u32) {
        for _ in 0..bits / 32 {
            self.limbs.insert(0, 0);
        }
        let r = bits % 32;
        if r != 0 {
            let mut carry = 0u32;
            for l in &mut self.limbs {
                let t = (*l << r) | carry;
                carry = *l >> (32 - r);
                *l = t;
            }
            if carry != 0 {
                self.limbs.push(carry);
            }
        }
    }

    /// Divide in place by `d`, returning the remainder.
    fn div_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for l in self.limbs.iter_mut().rev() {
            let t = (rem << 32) | u64::from(*l);
            *l = (t / u64::from(d)) as u32;
            rem = t % u64::from(d);
        }
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
        rem as u32
    }

    fn into_decimal(mut self) -> String {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
        if self.limbs.is_empty() {
            return "0".to_owned();
        }
        let mut chunks = Vec::new();
        while !self.limbs.is_empty() {
            chunks.push(self.div_small(1_000_000_000));
        }
        let mut s = chunks.pop().map(|c| c.to_string()).unwrap_or_default();
        for c in chunks.iter().rev() {
            s.push_str(&format!("{c:09}"));
        }
        s
    }
}

macro_rules! fp8_type {
    ($name:ident, $fmt:expr, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Equality and hashing compare bit patterns (so `+0 != -0` and a NaN equals itself).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
        #[repr(transparent)]
        pub struct $name(pub u8);

        impl $name {
            /// The format of this type.
            pub const FORMAT: FloatFormat = $fmt;
            /// +0.
            pub const ZERO: Self = Self(0);
            /// The largest finite value.
            pub const MAX: Self = Self($fmt.max_finite_bits() as u8);
            /// The most negative finite value.
            pub const MIN: Self = Self(0x80 | $fmt.max_finite_bits() as u8);
            /// The smallest positive normal value.
            pub const MIN_POSITIVE: Self = Self(1 << $fmt.mantissa_bits());
            /// The smallest positive subnormal value.
            pub const MIN_POSITIVE_SUBNORMAL: Self = Self(1);
            /// The canonical NaN.
            pub const NAN: Self = Self($fmt.nan_bits() as u8);

            /// The value with bit pattern `bits`.
            pub const fn from_bits(bits: u8) -> Self {
                Self(bits)
            }

            /// The bit pattern.
            pub const fn to_bits(self) -> u8 {
                self.0
            }

            /// Round to nearest even; overflow gives infinity (E5M2) or NaN (E4M3), see
            /// [`Saturation::NonSaturating`].
            pub fn from_f32(x: f32) -> Self {
                Self::from_f64(f64::from(x))
            }

            /// Round to nearest even; overflow gives infinity (E5M2) or NaN (E4M3).
            pub fn from_f64(x: f64) -> Self {
                Self($fmt.encode(x, Saturation::NonSaturating) as u8)
            }

            /// Round to nearest even, clamping overflow and infinities to ±[`Self::MAX`]
            /// ([`Saturation::Saturating`]).
            pub fn from_f32_saturating(x: f32) -> Self {
                Self($fmt.encode(f64::from(x), Saturation::Saturating) as u8)
            }

            /// The exact value as an f32.
            pub fn to_f32(self) -> f32 {
                $fmt.to_f32(u32::from(self.0))
            }

            /// The exact value as an f64.
            pub fn to_f64(self) -> f64 {
                $fmt.to_f64(u32::from(self.0))
            }

            /// Whether this is a NaN.
            pub const fn is_nan(self) -> bool {
                matches!($fmt.classify(self.0 as u32), FloatClass::Nan)
            }

            /// Whether this is neither infinite nor NaN.
            pub const fn is_finite(self) -> bool {
                $fmt.classify(self.0 as u32).is_finite()
            }

            /// The class of this value.
            pub const fn classify(self) -> FloatClass {
                $fmt.classify(self.0 as u32)
            }

            /// The fields of this value.
            pub const fn decompose(self) -> FloatParts {
                $fmt.decompose(self.0 as u32)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.to_f32(), f)
            }
        }

        impl From<$name> for f32 {
            fn from(v: $name) -> f32 {
                v.to_f32()
            }
        }

        impl From<$name> for f64 {
            fn from(v: $name) -> f64 {
                v.to_f64()
            }
        }
    };
}

fp8_type!(
    Fp8E4M3,
    FloatFormat::E4M3,
    "An OCP fp8 E4M3 (`float8_e4m3fn`) value: bias 7, no infinity, NaN = `S.1111.111`, max 448."
);
fp8_type!(
    Fp8E5M2,
    FloatFormat::E5M2,
    "An OCP fp8 E5M2 value: bias 15, IEEE-like infinities and NaNs, max 57344."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_uint_decimal() {
        let mut n = BigUint::from_u64(u64::MAX);
        n.mul_small(10);
        assert_eq!(n.into_decimal(), "184467440737095516150");
        let mut n = BigUint::from_u64(1);
        n.shl(100);
        assert_eq!(n.into_decimal(), "1267650600228229401496703205376");
    }

    #[test]
    fn f64_extremes() {
        let tiny = exact_decimal_f64(f64::from_bits(1));
        assert!(tiny.starts_with("0.000"));
        assert_eq!(tiny.len(), 2 + 1074, "2^-1074 has 1074 fractional digits");
        assert_eq!(exact_decimal_f64(f64::MAX).len(), 309);
    }
}
