//! `quant float`: the bit anatomy of a number in f32, f16, bf16, fp8 E4M3 and E5M2.

use std::io::{self, Write};

use quant_core::float::{FloatClass, FloatFormat, Saturation};

/// ANSI colours of the three fields (sign, exponent, significand), as the essay's widget shows.
const COLOURS: [&str; 3] = ["\x1b[31m", "\x1b[34m", "\x1b[32m"];
const RESET: &str = "\x1b[0m";

/// Parse `text` as a number, or as a bit pattern when it starts with `0x` / `0b`.
///
/// # Errors
/// A message for text that is neither.
pub fn parse_input(text: &str, format: FloatFormat) -> Result<u32, String> {
    let t = text.trim();
    let pattern = t
        .strip_prefix("0x")
        .map(|h| u32::from_str_radix(h, 16))
        .or_else(|| {
            t.strip_prefix("0b")
                .map(|b| u32::from_str_radix(&b.replace('_', ""), 2))
        });
    match pattern {
        Some(Ok(bits)) if format.bits() == 32 || bits >> format.bits() == 0 => Ok(bits),
        Some(_) => Err(format!("{t:?} is not a {}-bit pattern", format.bits())),
        None => {
            let x: f64 = t
                .parse()
                .map_err(|_| format!("not a number or 0x/0b pattern: {t:?}"))?;
            Ok(format.encode(x, Saturation::NonSaturating))
        }
    }
}

/// Print the anatomy of `bits` in `format`; `input` (the decimal the user typed, if any) is
/// compared with the value stored. Colours the fields when `colour` is set.
///
/// # Errors
/// I/O errors.
pub fn print(
    out: &mut dyn Write,
    format: FloatFormat,
    bits: u32,
    input: Option<f64>,
    colour: bool,
) -> io::Result<()> {
    let p = format.decompose(bits);
    let (s, e, m) = {
        let b = p.bit_string();
        let mut it = b.split(' ');
        (
            it.next().unwrap_or("").to_owned(),
            it.next().unwrap_or("").to_owned(),
            it.next().unwrap_or("").to_owned(),
        )
    };
    let paint = |i: usize, t: &str| {
        if colour {
            format!("{}{t}{RESET}", COLOURS[i])
        } else {
            t.to_owned()
        }
    };
    writeln!(
        out,
        "{format}: {} {} {}   (0x{:0w$x})",
        paint(0, &s),
        paint(1, &e),
        paint(2, &m),
        bits,
        w = format.bits() as usize / 4
    )?;
    writeln!(out, "{}", p)?;
    if let Some(x) = input {
        let v = p.value();
        if p.class != FloatClass::Nan && v != x {
            writeln!(
                out,
                "  rounding:    {x} is not representable; stored {} (error {:e})",
                p.exact_decimal(),
                v - x
            )?;
        }
    }
    writeln!(
        out,
        "  range:       max {}, min normal {:e}, min subnormal {:e}",
        format.max_finite(),
        format.min_positive_normal(),
        format.min_positive_subnormal()
    )
}
