//! The oracle data is present and well-formed for every type (quantizer tests live in
//! `golden_*.rs`, one file per format family).

mod golden;

#[test]
fn every_type_has_cases_and_inputs() {
    for t in quant_core::Format::block_formats() {
        if matches!(
            t,
            quant_core::Format::Bf16 | quant_core::Format::F16 | quant_core::Format::F32
        ) {
            continue;
        }
        let cases = golden::cases(t.name());
        assert_eq!(cases.len(), 18, "{t}");
        for c in &cases {
            assert_eq!(c.input().len(), c.n, "{t}/{}", c.name);
            assert_eq!(
                c.bytes("ref").unwrap().len(),
                t.row_bytes(c.n).unwrap(),
                "{t}/{}",
                c.name
            );
        }
    }
}
