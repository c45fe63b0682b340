//! The int8 firmware: LeNet-5 quantized with `TensorFlow Lite`'s parameters
//! (`data/lenet5_int8.safetensors`), baked into flash at compile time with
//! `#[int8(weights = "…")]`, classifies the first MNIST test digits on a
//! Cortex-M4F with no heap, checks its int8 logits against `TFLite`'s for the
//! same digits bit for bit, and measures the stack one `forward_with` uses.
//!
//! Runs under QEMU's `mps2-an386` board as the float firmware does; see
//! `README.md` beside this file.
#![no_std]
#![no_main]
#![warn(clippy::pedantic)]

use core::fmt::Write as _;
use core::ptr;

use constnet::quant::Int8Network;
use constnet_embedded::digits::{DIGITS, LABELS, TFLITE_LOGITS};
use constnet_embedded::{argmax, fail, finish, lenet_input, measured, ram, say, StackUse};
use cortex_m_rt::entry;
use cortex_m_semihosting::hio;

constnet::network! {
    /// LeNet-5, `ReLU` + max-pool variant, as the float firmware declares
    /// it; only its int8 twin `LeNet5Int8` is used (and linked in).
    #[int8(weights = "../../data/lenet5_int8.safetensors")]
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

/// One int8 input sample, `[1, 32, 32]`.
type Input = [[[i8; 32]; 32]; 1];

/// The signature of `LeNet5Int8::forward_with`.
type Forward = fn(&LeNet5Int8, &Input, &mut LeNet5Int8Workspace) -> [i8; 10];

// The memory budget, checked at compile time: issue 14's goal of at most
// 64 KiB of weights, and the int8 workspace in 6 KiB of RAM.
const _: () = assert!(<LeNet5Int8 as Int8Network>::WEIGHT_BYTES <= 64 * 1024);
const _: () = assert!(<LeNet5Int8 as Int8Network>::WORKSPACE_BYTES <= 6 * 1024);

#[entry]
#[allow(clippy::too_many_lines)]
fn main() -> ! {
    // In `.bss`, with `const` initialisers, as in the float firmware.
    static mut WORKSPACE: LeNet5Int8Workspace = LeNet5Int8Workspace::new();
    static mut INPUT: Input = [[[0; 32]; 32]; 1];
    let workspace: &'static mut LeNet5Int8Workspace = WORKSPACE;
    let input: &'static mut Input = INPUT;
    let net = LeNet5Int8::baked();
    let params = net.input_params();
    // An opaque function pointer, so that the call's stack lies below
    // `main`'s stack pointer (see the float firmware).
    let forward: Forward =
        core::hint::black_box(<LeNet5Int8 as Int8Network>::forward_with as Forward);

    let Ok(mut out) = hio::hstdout() else { fail() };
    let (_, stack_bottom, stack_top) = ram();
    let main_frames = stack_top - cortex_m::register::msp::read() as usize;

    say!(
        out,
        "constnet LeNet-5 int8 on a Cortex-M4F (QEMU mps2-an386), no heap"
    );
    say!(
        out,
        "model: {} bytes of int8 weights, biases, scales and multipliers in flash (static at {:#010x})",
        <LeNet5Int8 as Int8Network>::WEIGHT_BYTES,
        ptr::from_ref(net) as usize
    );
    say!(
        out,
        "workspace: {} bytes in .bss at {:#010x}; input: {} bytes in .bss at {:#010x}",
        <LeNet5Int8 as Int8Network>::WORKSPACE_BYTES,
        ptr::from_mut(workspace) as usize,
        core::mem::size_of::<Input>(),
        ptr::from_mut(input) as usize
    );

    let (mut correct, mut exact, mut forward_stack, mut print_stack) = (0, 0, 0, 0);
    for (i, (digit, (&label, tflite))) in DIGITS
        .iter()
        .zip(LABELS.iter().zip(&TFLITE_LOGITS))
        .enumerate()
    {
        // The float pixel quantized with the input's parameters, as
        // `quant::quantize` does on the host.
        lenet_input(digit, input, |v| params.quantize(v));
        let (logits, used) = measured!(stack_bottom, forward(net, input, workspace));
        forward_stack = forward_stack.max(used);
        let predicted = argmax(&logits);
        correct += usize::from(predicted == usize::from(label));
        exact += usize::from(logits == *tflite);
        let ((), printed) = measured!(stack_bottom, {
            say!(
                out,
                "digit {}: label {}, predicted {}, host (TFLite int8) {}, int8 logits {} TFLite's, forward_with stack {} bytes",
                i,
                label,
                predicted,
                argmax(tflite),
                if logits == *tflite { "==" } else { "!=" },
                used
            );
        });
        print_stack = print_stack.max(printed);
    }
    let n = DIGITS.len();
    say!(out, "accuracy: {}/{} digits correct", correct, n);
    say!(
        out,
        "host agreement: {}/{} digits classified as on the host (int8 logits equal to TFLite's reference kernels')",
        exact,
        n
    );
    let stack = StackUse {
        forward: forward_stack,
        print: print_stack,
        main_frames,
        calls: n,
    };
    // QEMU exits with status 0 only if every digit was classified as on
    // the host.
    finish(&mut out, &stack, exact == n)
}
