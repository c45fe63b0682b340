//! `forward` performs no heap allocation: a counting global allocator sees
//! none over many calls. Allocations are counted per thread, so tests running
//! in parallel do not disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use constnet::Network;

struct Counting;

thread_local! {
    // `const` initialisation and no destructor: using it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    ALLOCATIONS.with(|c| c.set(c.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

constnet::network! {
    struct LeNet5 {
        input: [1, 32, 32],
        conv1: Conv2d(1, 6, 5),
        ReLU,
        MaxPool2d(2),
        conv2: Conv2d(6, 16, 5),
        ReLU,
        MaxPool2d(2),
        Flatten,
        fc1: Linear(16 * 5 * 5, 120),
        ReLU,
        fc2: Linear(120, 84),
        ReLU,
        fc3: Linear(84, 10),
        Softmax,
    }
}

#[test]
fn forward_does_not_allocate() {
    // Set-up may allocate (the network and a workspace on the heap).
    let mut net = LeNet5::new_zeroed();
    net.visit_params_mut(&mut |_, values| {
        for (i, v) in values.iter_mut().enumerate() {
            *v = ((i % 7) as f32 - 3.0) * 0.01;
        }
    });
    let mut workspace = LeNet5::new_workspace();
    let mut input = [[[0.0f32; 32]; 32]; 1];
    let batch = vec![[[[0.25f32; 32]; 32]; 1]; 8];
    let mut outputs = vec![[0.0f32; 10]; 8];

    let before = allocations();
    let mut checksum = 0.0;
    for i in 0..50 {
        input[0][i % 32][(i * 7) % 32] = 1.0;
        let a = net.forward(&input);
        let b = net.forward_with(&input, &mut workspace);
        let c = <LeNet5 as Network>::forward(&net, &input);
        checksum += a[0] + b[1] + c[2];
        constnet::batch::forward_batch(&*net, &batch, &mut outputs);
        checksum += outputs[3][4];
    }
    let after = allocations();
    assert_eq!(
        after - before,
        0,
        "forward allocated {} times",
        after - before
    );
    // The calls did run (and were not optimised away).
    assert!(checksum.is_finite() && checksum != 0.0);
}

#[path = "../examples/resnet8/net.rs"]
mod resnet8;

/// A graph (blocks, residual adds fused into convolutions, a folded
/// padding layer) allocates nothing either, with its workspace on the heap,
/// on the stack (`forward`), or traced.
#[test]
fn a_graph_does_not_allocate() {
    use resnet8::ResNet8;
    let mut net = ResNet8::new_zeroed();
    net.visit_params_mut(&mut |info, values| {
        let fill = if info.name.ends_with("running_var") {
            1.0
        } else {
            0.02
        };
        values.fill(fill);
    });
    let mut workspace = ResNet8::new_workspace();
    let mut trace = ResNet8::new_trace();
    let input = [[[0.5f32; 32]; 32]; 3];
    let before = allocations();
    let a = net.forward_with(&input, &mut workspace);
    let b = net.forward(&input);
    let c = net.forward_traced(&input, &mut trace);
    let after = allocations();
    assert_eq!(
        after - before,
        0,
        "a graph allocated {} times",
        after - before
    );
    assert!(a.iter().chain(&b).chain(&c).all(|v| v.is_finite()));
}

#[test]
fn the_counter_counts() {
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(allocations() > before);
    drop(v);
}

#[path = "common/zoo.rs"]
#[allow(dead_code)]
mod zoo;

/// A network of dense layers runs `forward_batch` in tiles on the stack:
/// no allocation either.
#[test]
fn dense_tiles_do_not_allocate() {
    use zoo::AutoEncoder;
    let mut net = AutoEncoder::new_zeroed();
    net.visit_params_mut(&mut |info, values| {
        let fill = if info.name.ends_with("running_var") {
            1.0
        } else {
            0.01
        };
        values.fill(fill);
    });
    let batch = vec![[0.5f32; 640]; 64];
    let mut outputs = vec![[0.0f32; 640]; 64];
    let before = allocations();
    constnet::batch::forward_batch(&*net, &batch, &mut outputs);
    let after = allocations();
    assert_eq!(
        after - before,
        0,
        "dense tiles allocated {} times",
        after - before
    );
    assert!(outputs.iter().flatten().all(|v| v.is_finite() && *v != 0.0));
}
