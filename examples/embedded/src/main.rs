//! constnet on a microcontroller: LeNet-5 with its `PyTorch` weights baked
//! into flash at compile time classifies the first MNIST test digits on a
//! Cortex-M4F, with no heap and no allocator, checks them against
//! `PyTorch`'s logits, and measures the stack that one `forward_with` uses.
//!
//! Runs under QEMU's `mps2-an386` board and prints with semihosting; see
//! `README.md` beside this file for the commands and the measured numbers.
#![no_std]
#![no_main]
#![warn(clippy::pedantic)]

use core::fmt::Write as _;
use core::ptr;

use constnet_embedded::digits::{DIGITS, GOLDEN_LOGITS, LABELS};
use constnet_embedded::{
    argmax, e7, fail, finish, lenet_input, measured, ram, say, Input, StackUse,
};
use cortex_m_rt::entry;
use cortex_m_semihosting::hio;

constnet::network! {
    /// LeNet-5, `ReLU` + max-pool variant (as in `examples/lenet.rs`), with the
    /// shipped weights in flash.
    #[weights("../../data/lenet5.safetensors")]
    pub struct LeNet5 {
        input: [1, 32, 32],
        conv1: Conv2d(1, 6, 5),              // -> [6, 28, 28]
        ReLU,
        MaxPool2d(2),                        // -> [6, 14, 14]
        conv2: Conv2d(6, 16, 5) -> [16, 10, 10],
        ReLU,
        MaxPool2d(2),
        Flatten,
        fc1: Linear(16 * 5 * 5, 120),
        ReLU,
        fc2: Linear(120, 84),
        ReLU,
        fc3: Linear(84, 10),
    }
}

// The memory budget, checked at compile time: the scratch memory of one
// forward pass must fit in 24 KiB of RAM and the weights in 256 KiB of flash.
const _: () = assert!(LeNet5::WORKSPACE_BYTES <= 24 * 1024);
const _: () = assert!(LeNet5::WEIGHT_BYTES <= 256 * 1024);

/// The signature of `LeNet5::forward_with`.
type Forward = fn(&LeNet5, &Input, &mut LeNet5Workspace) -> [f32; 10];

/// The tolerance of the host parity test (`tests/lenet_parity.rs`).
const TOLERANCE: f32 = 1e-4;

#[entry]
#[allow(clippy::too_many_lines)]
fn main() -> ! {
    // The scratch memory and the input sample: statics in `.bss`, not on the
    // stack. cortex-m-rt's `#[entry]` turns a `static mut` declared at the
    // top of `main` into a safe `&'static mut` (main runs once). Their
    // initialisers are `const`, so nothing is built at run time and no
    // large temporary crosses the stack at any opt-level (unlike
    // `cortex_m::singleton!`, whose value is built on the stack first, then
    // moved: at opt-level "z" that put all 23,520 bytes on the stack).
    static mut WORKSPACE: LeNet5Workspace = LeNet5Workspace::new();
    static mut INPUT: Input = [[[0.0; 32]; 32]; 1];
    let workspace: &'static mut LeNet5Workspace = WORKSPACE;
    let input: &'static mut Input = INPUT;
    let net = LeNet5::baked();
    // Called through an opaque function pointer, so that `forward_with` is a
    // real call whose whole stack use lies below `main`'s stack pointer.
    let forward: Forward = core::hint::black_box(LeNet5::forward_with as Forward);

    let Ok(mut out) = hio::hstdout() else { fail() };

    let (_, stack_bottom, stack_top) = ram();
    // The frames of `Reset` and `main`, above the calls measured below.
    let main_frames = stack_top - cortex_m::register::msp::read() as usize;

    say!(
        out,
        "constnet LeNet-5 on a Cortex-M4F (QEMU mps2-an386), no heap"
    );
    say!(
        out,
        "model: {} parameters, {} MACs, {} bytes of weights in flash (static at {:#010x})",
        LeNet5::PARAMETERS,
        LeNet5::MACS,
        LeNet5::WEIGHT_BYTES,
        ptr::from_ref(net) as usize
    );
    say!(
        out,
        "workspace: {} bytes in .bss at {:#010x}; input: {} bytes in .bss at {:#010x}",
        LeNet5::WORKSPACE_BYTES,
        ptr::from_mut(workspace) as usize,
        core::mem::size_of::<Input>(),
        ptr::from_mut(input) as usize
    );

    let mut correct = 0;
    let mut agree = 0;
    let mut worst_diff = 0.0f32;
    let mut forward_stack = 0;
    let mut print_stack = 0;
    for (i, (digit, (&label, golden))) in DIGITS
        .iter()
        .zip(LABELS.iter().zip(&GOLDEN_LOGITS))
        .enumerate()
    {
        lenet_input(digit, input, |v| v);
        let (logits, used) = measured!(stack_bottom, forward(net, input, workspace));
        forward_stack = forward_stack.max(used);

        let golden = golden.map(f32::from_bits);
        let diff = logits
            .iter()
            .zip(&golden)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        worst_diff = worst_diff.max(diff);
        let (predicted, host) = (argmax(&logits), argmax(&golden));
        correct += usize::from(predicted == usize::from(label));
        agree += usize::from(predicted == host && diff <= TOLERANCE);
        let ((), printed) = measured!(stack_bottom, {
            say!(
                out,
                "digit {}: label {}, predicted {}, host (PyTorch) {}, max |logit diff| {}e-7, forward_with stack {} bytes",
                i,
                label,
                predicted,
                host,
                e7(diff),
                used
            );
        });
        print_stack = print_stack.max(printed);
    }
    let n = DIGITS.len();
    say!(out, "accuracy: {}/{} digits correct", correct, n);
    say!(
        out,
        "host agreement: {}/{} digits classified as on the host (max |logit diff| {}e-7, tolerance 1000e-7)",
        agree,
        n,
        e7(worst_diff)
    );
    let stack = StackUse {
        forward: forward_stack,
        print: print_stack,
        main_frames,
        calls: n,
    };
    // QEMU exits with status 0 only if every digit was classified as on
    // the host.
    finish(&mut out, &stack, agree == n)
}
