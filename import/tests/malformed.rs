//! Malformed models never panic the importer: every truncation of a real
//! model and many corrupted copies are imported or refused with a report.

use constnet_import::{import, Options};

fn options() -> Options {
    Options {
        name: "Net".into(),
        source: "model.onnx".into(),
        input: None,
    }
}

#[test]
fn truncated_and_corrupted_models_are_refused_without_panicking() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/golden/squeezenet.onnx"
    );
    let model = std::fs::read(path).expect("squeezenet.onnx");
    assert!(import(&model, &options()).is_ok());
    for len in (0..model.len()).step_by(7) {
        let _ = import(&model[..len], &options());
    }
    // Byte flips at pseudo-random places (xorshift), a few at a time.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut refused = 0;
    for _ in 0..3000 {
        let mut copy = model.clone();
        for _ in 0..1 + next() % 3 {
            let at = usize::try_from(next() % model.len() as u64).unwrap();
            copy[at] ^= u8::try_from(1 + next() % 255).unwrap();
        }
        if import(&copy, &options()).is_err() {
            refused += 1;
        }
    }
    assert!(refused > 0);
}
