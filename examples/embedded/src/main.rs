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

use core::arch::asm;
use core::fmt::Write as _;
use core::ptr;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hio};

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

/// `DIGITS`, `LABELS` and `GOLDEN_LOGITS` (`PyTorch`'s logits), generated
/// by `build.rs` from `data/`.
mod digits {
    include!(concat!(env!("OUT_DIR"), "/digits.rs"));
}
use digits::{DIGITS, GOLDEN_LOGITS, LABELS};

/// One input sample, `[1, 32, 32]`.
type Input = [[[f32; 32]; 32]; 1];

/// The signature of `LeNet5::forward_with`.
type Forward = fn(&LeNet5, &Input, &mut LeNet5Workspace) -> [f32; 10];

/// `writeln!` to the host's standard output through semihosting, ignoring
/// errors. (`hprintln!` would do, but the `RefCell` behind it brings
/// `core::cell::panic_already_borrowed` and `core::panicking::panic_fmt`
/// into the binary; this keeps the whole firmware free of panic code.)
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        let _ = writeln!($out, $($arg)*);
    };
}

/// The tolerance of the host parity test (`tests/lenet_parity.rs`).
const TOLERANCE: f32 = 1e-4;

/// What the unused stack is painted with before a measured call.
const PAINT: u32 = 0xCCCC_CCCC;

extern "C" {
    /// Start of RAM (cortex-m-rt's linker script; `.data` and `.bss` follow).
    static _ram_start: u8;
    /// End of the statics (`.data`, `.bss`, `.uninit`): the lowest address
    /// the stack may grow down to (cortex-m-rt's linker script).
    static _stack_end: u8;
    /// Top of RAM, where the stack starts (cortex-m-rt's linker script).
    static _stack_start: u8;
}

/// Evaluates `$body` with the free stack `[$bottom, SP)` painted first, and
/// gives `($body's value, bytes of stack that $body used below SP)`. Must
/// be used in `main` itself, whose stack pointer is fixed in its body.
macro_rules! measured {
    ($bottom:expr, $body:expr) => {{
        let sp = cortex_m::register::msp::read() as usize;
        paint($bottom, sp);
        let value = $body;
        (value, sp - deepest($bottom, sp))
    }};
}

/// LeNet-5's input as `examples/mnist/mod.rs` makes it (and PyTorch): the
/// digit zero-padded by 2 to 32x32, each byte `b` mapped to
/// `(b / 255 - 0.1307) / 0.3081` in `f32` with true division at each step.
fn lenet_input(digit: &[[u8; 28]; 28], x: &mut Input) {
    let normalise = |b: u8| (f32::from(b) / 255.0 - 0.1307) / 0.3081;
    // In place: a `[[[f32; 32]; 32]; 1]` value would be a 4 KiB temporary.
    for row in &mut x[0] {
        row.fill(normalise(0));
    }
    for (row, src) in x[0][2..30].iter_mut().zip(digit) {
        for (v, &b) in row[2..30].iter_mut().zip(src) {
            *v = normalise(b);
        }
    }
}

/// The index of the largest value (the first one on ties).
fn argmax(values: &[f32; 10]) -> usize {
    let mut best = 0;
    let mut max = values[0];
    for (i, &v) in values.iter().enumerate() {
        if v > max {
            best = i;
            max = v;
        }
    }
    best
}

/// Writes `PAINT` to every word of `[bottom, top)`, with registers only:
/// inline assembly that touches no stack, so that it can paint right up to
/// the current stack pointer. Always inlined, for the same reason: a call
/// would put its own frame in the region being painted.
#[allow(clippy::inline_always)]
#[inline(always)]
fn paint(bottom: usize, top: usize) {
    if bottom >= top {
        return;
    }
    // SAFETY: `[bottom, top)` is free stack below the current stack pointer
    // (between the end of the statics and SP), which nothing live uses.
    unsafe {
        asm!(
            "2:",
            "str {pat}, [{p}], #4",
            "cmp {p}, {top}",
            "blo 2b",
            p = inout(reg) bottom => _,
            top = in(reg) top,
            pat = in(reg) PAINT,
            options(nostack),
        );
    }
}

/// The lowest word of `[bottom, top)` that no longer holds `PAINT` (`top`
/// if none changed): the deepest point the stack reached. Always inlined:
/// it then runs in `main`'s frame, above the region it reads.
#[allow(clippy::inline_always)]
#[inline(always)]
fn deepest(bottom: usize, top: usize) -> usize {
    let mut addr = bottom;
    while addr < top {
        // SAFETY: an aligned word of RAM between the statics and SP.
        if unsafe { ptr::read_volatile(addr as *const u32) } != PAINT {
            return addr;
        }
        addr += 4;
    }
    top
}

/// A non-negative `f32` in units of 1e-7, as an integer: the firmware prints
/// integers only, so no float formatting code is linked in. (`as` saturates.)
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn e7(x: f32) -> u32 {
    (x * 1e7) as u32
}

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

    // Only the addresses of these linker symbols are taken (which is safe).
    let ram_start = ptr::addr_of!(_ram_start) as usize;
    let stack_bottom = ptr::addr_of!(_stack_end) as usize;
    let stack_top = ptr::addr_of!(_stack_start) as usize;
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
        lenet_input(digit, input);
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
    let peak = main_frames + forward_stack.max(print_stack);
    let statics = stack_bottom - ram_start;
    say!(
        out,
        "stack: forward_with {} bytes (deepest of {} calls), printing a line {} bytes, Reset+main frames {} bytes: peak {} bytes",
        forward_stack,
        n,
        print_stack,
        main_frames,
        peak
    );
    say!(
        out,
        "RAM: statics (.data+.bss) {} bytes + peak stack {} bytes = {} bytes (of {} bytes)",
        statics,
        peak,
        statics + peak,
        stack_top - ram_start
    );
    // QEMU exits with status 0 only if every digit was classified as on
    // the host.
    if agree == n {
        stop(debug::EXIT_SUCCESS)
    } else {
        stop(debug::EXIT_FAILURE)
    }
}

/// Reports failure to QEMU and stops.
fn fail() -> ! {
    stop(debug::EXIT_FAILURE)
}

/// Ends the run: QEMU exits with `status`. (On a board with a debugger
/// attached the debugger is told; then the core sleeps.)
fn stop(status: debug::ExitStatus) -> ! {
    debug::exit(status);
    loop {
        cortex_m::asm::wfi();
    }
}

/// A panic stops the core where it is. None can happen: the release binary
/// contains no panic code at all (`check.sh` verifies it), so this handler
/// is not even linked in.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
