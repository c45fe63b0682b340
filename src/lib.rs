//! # constnet
//!
//! Declare a convolutional network in Rust source, have the compiler check
//! every shape, and run it with zero heap allocations, on servers and on
//! `no_std` targets alike.
//!
//! ```
//! constnet::network! {
//!     /// LeNet-5, ReLU + max-pool variant.
//!     pub struct LeNet5 {
//!         input: [1, 32, 32],
//!         conv1: Conv2d(1, 6, 5),              // -> [6, 28, 28]
//!         ReLU,
//!         MaxPool2d(2),                        // -> [6, 14, 14]
//!         conv2: Conv2d(6, 16, 5) -> [16, 10, 10],
//!         ReLU,
//!         MaxPool2d(2),
//!         Flatten,
//!         fc1: Linear(16 * 5 * 5, 120),
//!         ReLU,
//!         fc2: Linear(120, 84),
//!         ReLU,
//!         fc3: Linear(84, 10),
//!     }
//! }
//!
//! use constnet::Network;
//! let net = LeNet5::new_zeroed();           // on the heap, built in place
//! let logits: [f32; 10] = net.forward(&[[[0.5; 32]; 32]; 1]);
//! assert_eq!(logits, [0.0; 10]);             // zero weights, zero output
//! assert_eq!(LeNet5::PARAMETERS, 61_706);
//! assert_eq!(LeNet5::MACS, 416_520);
//! ```
//!
//! A shape mistake is a compile error on the offending argument:
//!
//! ```compile_fail
//! constnet::network! {
//!     struct Bad {
//!         input: [16, 5, 5],
//!         Flatten,
//!         fc1: Linear(16 * 4 * 4, 120), // error: expected in_features = 400
//!     }
//! }
//! ```
//!
//! The crate re-exports the macro and `constnet-runtime` (kernels, the
//! [`Network`] trait, tensors, loading); depend on `constnet` alone.
#![no_std]

pub use constnet_runtime::*;

/// Declares a network. See the [crate documentation](crate) and README for
/// the layer vocabulary.
///
/// This wrapper passes `$crate` to the procedural macro, so the generated
/// code names the runtime by a path that still resolves when the
/// dependency is renamed in `Cargo.toml`.
#[macro_export]
macro_rules! network {
    ($($body:tt)*) => {
        $crate::__private::network_impl! { [$crate] $($body)* }
    };
}

#[doc(hidden)]
pub mod __private {
    //! Used by the code `network!` generates. Not public API.
    pub use constnet_macros::network_impl;
    pub use constnet_runtime::__private::*;
}
