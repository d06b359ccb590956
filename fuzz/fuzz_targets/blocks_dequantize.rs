//! Arbitrary bytes → every block view and dequantizer of quant-core, through the runtime API.
//!
//! Input: byte 0 picks the format (`Format::ALL[b % len]`), byte 1 an offset 0..8 (to vary the
//! alignment), the rest is block data. Asserts: no panic; whole blocks dequantize (`Ok`), the
//! zero-copy view, the copying view and the runtime `dequantize` agree bit for bit; a ragged byte
//! count is `RaggedBytes` / `LengthMismatch`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quant_core::{
    BlockFormat, Error, Format, blocks_from_bytes, blocks_from_bytes_unaligned, dequantize,
    dequantize_row_to_vec, with_block_type,
};

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn check<B: BlockFormat>(format: Format, bytes: &[u8]) {
    let size = B::BLOCK_BYTES;
    let whole = bytes.len() / size * size;
    let n = whole / size * B::BLOCK_LEN;
    // Runtime API on whole blocks: always Ok.
    let runtime = dequantize(format, &bytes[..whole], n).expect("whole blocks dequantize");
    // The copying view.
    let blocks = blocks_from_bytes_unaligned::<B>(&bytes[..whole]).expect("whole blocks copy");
    let copied = dequantize_row_to_vec(&blocks);
    assert!(same_bits(&runtime, &copied), "{format}: runtime vs copy");
    // The zero-copy view, when aligned.
    match blocks_from_bytes::<B>(&bytes[..whole]) {
        Ok(view) => assert!(same_bits(&dequantize_row_to_vec(view), &copied)),
        Err(Error::Misaligned { align }) => assert_eq!(align, core::mem::align_of::<B>()),
        Err(e) => panic!("{format}: unexpected {e:?}"),
    }
    // Ragged byte counts are typed errors.
    if bytes.len() != whole {
        assert_eq!(
            blocks_from_bytes_unaligned::<B>(bytes).unwrap_err(),
            Error::RaggedBytes { len: bytes.len(), block_bytes: size }
        );
        assert!(matches!(
            dequantize(format, bytes, n),
            Err(Error::LengthMismatch { .. })
        ));
    }
}

fuzz_target!(|data: &[u8]| {
    let [sel, offset, rest @ ..] = data else {
        return;
    };
    let format = Format::ALL[usize::from(*sel) % Format::ALL.len()];
    // Copy to an 8-aligned buffer at `offset % 8` to vary the alignment of the view.
    let offset = usize::from(*offset % 8);
    let mut storage = vec![0u64; (rest.len() + offset).div_ceil(8) + 1];
    let buf: &mut [u8] = bytemuck::cast_slice_mut(&mut storage);
    buf[offset..offset + rest.len()].copy_from_slice(rest);
    let bytes = &buf[offset..offset + rest.len()];
    with_block_type!(format, B => check::<B>(format, bytes));
});

