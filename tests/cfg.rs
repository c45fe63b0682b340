//! `#[cfg(…)]` on a declaration applies to everything it generates: a
//! network compiled out leaves no workspace, trace or impl behind.

use constnet::Network;

constnet::network! {
    /// Compiled out: were any of its items left, the second `Gated` below
    /// would clash with them.
    #[cfg(any())]
    pub struct Gated {
        input: [3],
        Linear(3, 4),
    }
}

constnet::network! {
    /// The same name under the opposite condition.
    #[cfg(not(any()))]
    #[cfg_attr(all(), doc = "A `cfg_attr` that adds a doc line stays on the struct.")]
    pub struct Gated {
        input: [2],
        ReLU,
    }
}

#[test]
fn only_the_enabled_declaration_exists() {
    let net = Gated::zeroed();
    assert_eq!(net.forward(&[-1.0, 2.0]), [0.0, 2.0]);
    let mut trace = GatedTrace::new();
    let mut ws = GatedWorkspace::new();
    let _ = net.forward_traced(&[1.0, 1.0], &mut trace);
    assert_eq!(net.forward_with(&[1.0, -3.0], &mut ws), [1.0, 0.0]);
    assert_eq!(<Gated as Network>::INPUT_SHAPE, &[2]);
}
