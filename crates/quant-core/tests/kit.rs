//! The property-test kit (`quant_core::testing`) on every built-in format: f32, f16, bf16 and
//! every block format. One test per format so that a failure names it.

use quant_core::formats::*;
use quant_core::half::{bf16, f16};
use quant_core::testing::{KitConfig, check_format};
use quant_core::{BlockFormat, Format};

/// 64 cases per check keeps the whole file well under a minute at opt-level 3.
fn config<B: BlockFormat>() -> KitConfig {
    let c = KitConfig::default().with_cases(64);
    // Plain floats have one value per block: give them rows of up to 64 values.
    if B::BLOCK_LEN == 1 {
        c.with_max_blocks(64)
    } else {
        c
    }
}

macro_rules! kit_tests {
    ($($name:ident => $ty:ty),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Err(report) = check_format::<$ty>(&config::<$ty>()) {
                    panic!("{report}");
                }
            }
        )*

        /// The list above covers every built-in format.
        #[test]
        fn every_format_is_covered() {
            let mut covered = vec![$(<$ty as BlockFormat>::FORMAT),*];
            covered.sort();
            let mut all: Vec<Option<Format>> = Format::ALL.into_iter().map(Some).collect();
            all.sort();
            assert_eq!(covered, all);
        }
    };
}

kit_tests! {
    kit_f32 => f32,
    kit_f16 => f16,
    kit_bf16 => bf16,
    kit_q4_0 => BlockQ4_0,
    kit_q4_1 => BlockQ4_1,
    kit_q5_0 => BlockQ5_0,
    kit_q5_1 => BlockQ5_1,
    kit_q8_0 => BlockQ8_0,
    kit_q8_1 => BlockQ8_1,
    kit_q2_k => BlockQ2K,
    kit_q3_k => BlockQ3K,
    kit_q4_k => BlockQ4K,
    kit_q5_k => BlockQ5K,
    kit_q6_k => BlockQ6K,
    kit_q8_k => BlockQ8K,
    kit_iq4_nl => BlockIq4Nl,
    kit_iq4_xs => BlockIq4Xs,
    kit_tq1_0 => BlockTq1_0,
    kit_tq2_0 => BlockTq2_0,
    kit_mxfp4 => BlockMxfp4,
    kit_nvfp4 => BlockNvfp4,
}
