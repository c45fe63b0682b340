//! Unit tests of the whole pipeline (parse → check → expand) through
//! `proc-macro2`, without a compiler in the loop. The compile-fail tests in
//! `tests/ui/` check the same errors as rustc prints them.

use proc_macro2::TokenStream;
use quote::quote;

use crate::{ast, check};

/// Runs the whole pipeline; returns every error message, or the expansion.
fn run(body: TokenStream) -> Result<TokenStream, Vec<String>> {
    crate::network(quote!([::constnet] #body))
        .map_err(|e| e.into_iter().map(|e| e.to_string()).collect())
}

fn errors(body: TokenStream) -> Vec<String> {
    match run(body) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

fn one_error(body: TokenStream) -> String {
    let e = errors(body);
    assert_eq!(e.len(), 1, "{e:#?}");
    e.into_iter().next().unwrap_or_default()
}

fn lenet() -> TokenStream {
    quote! {
        /// LeNet-5.
        pub struct LeNet5 {
            input: [1, 32, 32],
            conv1: Conv2d(1, 6, 5),
            ReLU,
            MaxPool2d(2),
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
}

#[test]
fn lenet_plan() {
    let body = lenet();
    let inv: ast::Invocation = syn::parse2(quote!([c] #body)).unwrap();
    let plan = check::check(&inv, &inv.networks[0]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.rows.len(), 12);
    assert_eq!(plan.totals.params, 61_706);
    assert_eq!(plan.totals.macs, 416_520);
    let shapes: Vec<String> = plan.rows.iter().map(|l| l.output.to_string()).collect();
    assert_eq!(
        shapes,
        [
            "[6, 28, 28]",
            "[6, 28, 28]",
            "[6, 14, 14]",
            "[16, 10, 10]",
            "[16, 10, 10]",
            "[16, 5, 5]",
            "[400]",
            "[120]",
            "[120]",
            "[84]",
            "[84]",
            "[10]"
        ]
    );
    let keys: Vec<&str> = plan.rows.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(keys[..4], ["conv1", "1", "2", "conv2"]);
    assert_eq!(plan.rows[0].display, "Conv2d(1, 6, 5)");
    assert_eq!(plan.rows[2].display, "MaxPool2d(2)");
    assert_eq!(plan.rows[7].display, "Linear(400, 120)");
}

#[test]
fn lenet_expansion_is_valid_rust() {
    let out = run(lenet()).unwrap();
    let file: syn::File = syn::parse2(out.clone()).unwrap();
    let text = out.to_string();
    assert!(text.contains("pub struct LeNet5"));
    assert!(text.contains("pub struct LeNet5Workspace"));
    assert!(text.contains("const PARAMETERS : usize = 61706"), "{text}");
    assert!(text.contains("\"conv1.weight\""));
    assert!(text.contains("\"fc3.bias\""));
    // Every runtime path goes through the facade path given by the wrapper.
    assert!(!text.contains(" constnet_runtime"));
    assert!(text.contains(":: constnet :: conv :: conv2d"));
    assert!(file.items.len() >= 5);
}

#[test]
fn sequential_names_and_inference() {
    let out = run(quote! {
        struct Mlp {
            input: [784],
            Linear(_, 64),
            ReLU,
            Linear(_, 10, bias = false),
            Softmax(dim = 1),
        }
    })
    .unwrap()
    .to_string();
    assert!(out.contains("\"0.weight\""));
    assert!(out.contains("\"0.bias\""));
    assert!(out.contains("\"2.weight\""));
    assert!(!out.contains("\"2.bias\""));
    assert!(out.contains("[[f32 ; 784] ; 64]"), "{out}");
}

#[test]
fn in_channels_mismatch_explains_where_channels_come_from() {
    let e = one_error(quote! {
        struct N { input: [1, 32, 32], conv1: Conv2d(1, 6, 5), MaxPool2d(2), conv2: Conv2d(3, 16, 5) }
    });
    assert!(e.starts_with("expected in_channels = 6, found 3"), "{e}");
    assert!(e.contains("[6, 14, 14]"), "{e}");
    assert!(e.contains("`MaxPool2d(2)` (layer 1)"), "{e}");
    assert!(e.contains("(28 + 2·0 − 1·(2 − 1) − 1) / 2 + 1 = 14"), "{e}");
    assert!(
        e.contains("`conv1: Conv2d(1, 6, 5)` (layer 0, out_channels = 6)"),
        "{e}"
    );
}

#[test]
fn in_features_mismatch_shows_the_product() {
    let e = one_error(quote! {
        struct N { input: [16, 10, 10], MaxPool2d(2), Flatten, fc1: Linear(16 * 4 * 4, 120) }
    });
    assert!(
        e.starts_with("expected in_features = 400, found 256 (`16 * 4 * 4`)"),
        "{e}"
    );
    assert!(e.contains("16 × 5 × 5 = 400"), "{e}");
    assert!(e.contains("(10 + 2·0 − 1·(2 − 1) − 1) / 2 + 1 = 5"), "{e}");
}

#[test]
fn window_larger_than_input() {
    let e = one_error(quote! { struct N { input: [1, 4, 4], Conv2d(1, 2, 5) } });
    assert!(e.contains("kernel_size 5 does not fit"), "{e}");
    assert!(e.contains("4 + 2·0 = 4"), "{e}");
    let e = one_error(quote! { struct N { input: [1, 4, 4], MaxPool2d((2, 5)) } });
    assert!(e.contains("width"), "{e}");
    // Padding makes it fit.
    assert!(run(quote! { struct N { input: [1, 4, 4], Conv2d(1, 2, 5, padding = 1) } }).is_ok());
}

#[test]
fn rank_errors() {
    let e = one_error(quote! { struct N { input: [16, 5, 5], Linear(400, 10) } });
    assert!(e.contains("`Linear` needs a flat input"), "{e}");
    assert!(e.contains("insert `Flatten,`"), "{e}");
    assert!(e.contains("16 × 5 × 5 = 400"), "{e}");
    let e = one_error(quote! { struct N { input: [120], Conv2d(1, 6, 5) } });
    assert!(e.contains("`Conv2d` needs a [C, H, W] feature map"), "{e}");
}

#[test]
fn shape_assertion() {
    let e =
        one_error(quote! { struct N { input: [6, 14, 14], c: Conv2d(6, 16, 5) -> [16, 9, 9] } });
    assert!(e.contains("shape assertion failed"), "{e}");
    assert!(e.contains("produces [16, 10, 10], not [16, 9, 9]"), "{e}");
}

#[test]
fn vocabulary_errors() {
    let e = one_error(quote! { struct N { input: [3], Relu } });
    assert!(
        e.contains("unknown layer `Relu`; did you mean `ReLU`?"),
        "{e}"
    );
    let e = one_error(quote! { struct N { input: [1, 8, 8], Conv2D(1, 2, 3) } });
    assert!(e.contains("did you mean `Conv2d`?"), "{e}");
    let e = one_error(quote! { struct N { input: [1, 8, 8], Conv2d(1, 2, 3, strides = 2) } });
    assert!(
        e.contains("no argument `strides`; did you mean `stride`?"),
        "{e}"
    );
    let e = one_error(
        quote! { struct N { input: [1, 8, 8], Conv2d(1, 2, 3, stride = 2, stride = 1) } },
    );
    assert!(e.contains("`stride` is given twice"), "{e}");
    let e = one_error(quote! { struct N { input: [1, 8, 8], Conv2d(1, 2, 3, in_channels = 1) } });
    assert!(e.contains("already given by position"), "{e}");
    let e = one_error(quote! { struct N { input: [1, 8, 8], Conv2d(1, 2) } });
    assert!(e.contains("missing its argument `kernel_size`"), "{e}");
    let e = one_error(quote! { struct N { input: [1, 8, 8], Conv2d(1, 0, 3) } });
    assert!(e.contains("out_channels must be positive, found 0"), "{e}");
    let e = one_error(quote! { struct N { input: [1, 8, 8], Conv2d(1, 2, 3, stride = -1) } });
    assert!(e.contains("stride must be positive, found -1"), "{e}");
    let e = one_error(quote! { struct N { input: [6, 8, 8], Conv2d(6, 8, 3, groups = 4) } });
    assert!(e.contains("groups = 4 must divide in_channels = 6"), "{e}");
    let e = one_error(quote! { struct N { input: [4, 8, 8], Conv2d(4, 6, 3, groups = 4) } });
    assert!(e.contains("groups = 4 must divide out_channels = 6"), "{e}");
    let e = one_error(quote! { struct N { input: [3], Linear(3, 4, true, 5) } });
    assert!(e.contains("at most 3 positional arguments"), "{e}");
}

#[test]
fn overflow_is_an_error() {
    let e = one_error(
        quote! { struct N { input: [3], Linear(3, 1000000000 * 1000000000 * 1000000000 * 1000000000 * 1000000000) } },
    );
    assert!(e.contains("overflow"), "{e}");
    let e = one_error(quote! { struct N { input: [3], Linear(3, 1000000000000000000) } });
    assert!(
        e.contains(
            "this layer's weight [1000000000000000000, 3] would be more than `isize::MAX` bytes"
        ),
        "{e}"
    );
}

#[test]
fn names_and_input_line() {
    let e = one_error(quote! { struct N { input: [3], a: ReLU, a: Tanh } });
    assert!(e.contains("two layers are named `a`"), "{e}");
    let e = one_error(quote! { struct N { ReLU } });
    assert!(e.contains("has no `input:` line"), "{e}");
    let e = one_error(quote! { struct N { input: [3, 4], ReLU } });
    assert!(e.contains("found 2 dimensions"), "{e}");
    let e = one_error(quote! { struct N { input: [3], Softmax(dim = 0) } });
    assert!(e.contains("batch dimension"), "{e}");
    let e = one_error(quote! { struct N { input: [3], Softmax(dim = 2) } });
    assert!(e.contains("out of range"), "{e}");
}

#[test]
fn independent_errors_are_all_reported() {
    let e = errors(quote! {
        struct N {
            input: [1, 32, 32],
            conv1: Conv2d(3, 6, 5),
            Relu,
            MaxPool2d(2),
            Flatten,
            fc1: Linear(6 * 5 * 5, 10),
            fc1: Linear(10, 10, bias = 3),
        }
    });
    assert_eq!(e.len(), 5, "{e:#?}");
    assert!(e[0].contains("in_channels"));
    assert!(e.iter().any(|m| m.contains("unknown layer `Relu`")));
    assert!(e.iter().any(|m| m.contains("expected in_features = 1176")));
    assert!(e.iter().any(|m| m.contains("two layers are named `fc1`")));
    assert!(e.iter().any(|m| m.contains("expects `true` or `false`")));
}

#[test]
fn full_vocabulary_expands() {
    let out = run(quote! {
        pub struct Everything {
            input: [5, 13, 9],
            conv1: Conv2d(5, 8, (3, 2), padding = "same", padding_mode = "reflect"),
            bn1: BatchNorm2d(_, eps = 0.001),
            ReLU6,
            MaxPool2d(3, stride = 2, padding = 1, dilation = 1, ceil_mode = true),
            dw: Conv2d(8, 16, 3, padding = 1, groups = 8, bias = false, padding_mode = "circular"),
            BatchNorm2d(16, affine = false),
            LeakyReLU(0.2),
            AvgPool2d(2, ceil_mode = true, count_include_pad = false, divisor_override = 3),
            AdaptiveAvgPool2d((3, 2)),
            AdaptiveMaxPool2d(1),
            Dropout2d(0.1),
            Flatten,
            Identity,
            Linear(_, 12),
            ELU(alpha = 2),
            SELU, GELU, GELU(approximate = "tanh"), SiLU, Hardswish, Hardsigmoid, Dropout,
            LogSoftmax(dim = -1),
        }
    });
    // "same" with a (3, 2) kernel pads unevenly, as PyTorch does: one
    // more column on the right, through the asymmetric convolution.
    let text = out.unwrap_or_else(|e| panic!("{e:#?}")).to_string();
    assert!(text.contains("conv2d_fused"), "{text}");

    let out = run(quote! {
        pub struct Everything {
            input: [5, 13, 9],
            conv1: Conv2d(5, 8, 3, padding = "same", padding_mode = "reflect"),
            bn1: BatchNorm2d(_, eps = 0.001),
            ReLU6,
            MaxPool2d(3, stride = 2, padding = 1, ceil_mode = true),
            dw: Conv2d(8, 16, 3, padding = 1, groups = 8, bias = false, padding_mode = "circular"),
            BatchNorm2d(16, affine = false),
            LeakyReLU(0.2),
            AvgPool2d(2, ceil_mode = true, count_include_pad = false, divisor_override = 3),
            AdaptiveAvgPool2d((3, 2)),
            AdaptiveMaxPool2d(1),
            Dropout2d(0.1),
            Flatten,
            Identity,
            Linear(_, 12),
            ELU(alpha = 2),
            SELU, GELU, GELU(approximate = "tanh"), SiLU, Hardswish, Hardsigmoid, Dropout,
            LogSoftmax(dim = -1),
        }
    })
    .unwrap_or_else(|e| panic!("{e:#?}"));
    syn::parse2::<syn::File>(out.clone()).unwrap();
    let text = out.to_string();
    for key in [
        "\"bn1.weight\"",
        "\"bn1.running_var\"",
        "\"5.running_mean\"",
        "\"13.weight\"",
    ] {
        assert!(text.contains(key), "{key} missing");
    }
    assert!(
        !text.contains("\"5.weight\""),
        "affine = false has no weight"
    );
    assert!(text.contains("conv2d_reflect"));
    assert!(text.contains("conv2d_circular"));
    assert!(text.contains("log_softmax"));
    assert!(
        text.contains("elu (:: constnet :: Tensor :: as_flat_mut"),
        "{text}"
    );
}

#[test]
fn new_vocabulary_errors() {
    let e = one_error(
        quote! { struct N { input: [3, 8, 8], Conv2d(3, 4, 3, stride = 2, padding = "same") } },
    );
    assert!(e.contains("needs stride = 1"), "{e}");
    let e = one_error(quote! { struct N { input: [3, 8, 8], AdaptiveMaxPool2d(9) } });
    assert!(e.contains("larger than the input 8 × 8"), "{e}");
    let e = one_error(quote! { struct N { input: [3, 8, 8], BatchNorm2d(4) } });
    assert!(e.contains("expected num_features = 3, found 4"), "{e}");
    let e = one_error(quote! { struct N { input: [3, 8, 8], MaxPool2d(2, padding = 2) } });
    assert!(e.contains("more than half"), "{e}");
    // Dilation widens the window, and PyTorch's limit with it.
    assert!(
        run(quote! { struct N { input: [3, 8, 8], MaxPool2d(2, padding = 1, dilation = 2) } })
            .is_ok()
    );
    let e = one_error(quote! { struct N { input: [3, 8, 8], LogSoftmax(dim = 4) } });
    assert!(e.contains("LogSoftmax dim = 4 is out of range"), "{e}");
    let e = one_error(
        quote! { struct N { input: [3, 8, 8], Conv2d(3, 4, 3, padding_mode = "mirror") } },
    );
    assert!(
        e.contains("\"zeros\", \"reflect\", \"replicate\", \"circular\""),
        "{e}"
    );
    let e =
        one_error(quote! { struct N { input: [3, 8, 8], MaxPool2d(2, return_indices = true) } });
    assert!(e.contains("return_indices"), "{e}");
    let e = one_error(quote! { struct N { input: [16], Dropout2d(0.5) } });
    assert!(e.contains("needs a [C, H, W] feature map"), "{e}");
    let e = one_error(quote! { struct N { input: [3, 4, 4], Flatten(0) } });
    assert!(e.contains("batch dimension"), "{e}");
    assert!(run(quote! { struct N { input: [3, 4, 4], Flatten(1, 3) } }).is_ok());
    assert!(run(quote! { struct N { input: [3, 4, 4], Flatten(-3, -1) } }).is_ok());
}

/// `#[int8(weights = "…")]` on a layer of 2^30 output channels whose file
/// disagrees: a compile error naming the tensors, not a panic (and the
/// int8 loader sizes a buffer only after the file's shape matched, so the
/// declared gigabytes are never requested).
#[test]
fn huge_int8_layers_with_a_disagreeing_file_are_errors() {
    let e = one_error(quote! {
        #[int8(weights = "../tests/ui/weights/int8_problems.safetensors")]
        struct Big { input: [4], fc: Linear(4, 1073741824) }
    });
    assert!(e.contains("does not fit `BigInt8`"), "{e}");
    assert!(
        e.contains(
            "tensor `fc.weight` has shape [4, 2], but the int8 network stores [1073741824, 4]"
        ),
        "{e}"
    );
}

/// `#[int8]` graph networks far beyond any memory: the int8 kinds whose
/// parameters are derived when they run (`Add` with a fused ReLU, `Cat`,
/// Hardswish, softmax) and the int8 pools (ceil mode, divisible adaptive
/// bins) expand to valid Rust, and their int8 errors stay errors.
#[test]
fn huge_int8_graph_networks_expand_or_are_errors() {
    let expansion = run(quote! {
        #[int8]
        struct Big {
            input: [1048576, 1024, 1024],
            Add { Conv2d(1048576, 1048576, 1), {} },
            ReLU,
            Cat { Conv2d(1048576, 1024, 3, padding = 1), {} },
            Hardswish,
            MaxPool2d(3, stride = 2, ceil_mode = true),
            AdaptiveAvgPool2d(1),
            Flatten,
            Linear(1049600, 4294967296),
            Softmax(dim = 1),
        }
    });
    let expansion = expansion.unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(syn::parse2::<syn::File>(expansion).is_ok());
    let e = errors(quote! {
        #[int8]
        struct Big {
            input: [1048576, 1024, 1024],
            Add { Conv2d(1048576, 1048576, 1), Conv2d(1048576, 1048576, 1), {} },
            AdaptiveAvgPool2d((1000, 3)),
        }
    })
    .join("\n");
    assert!(e.contains("an int8 Add adds two values only"), "{e}");
    assert!(
        e.contains("int8 adaptive average pooling needs bins that divide the map"),
        "{e}"
    );
}

/// Sizes up to `u64::MAX` are compile errors with a span, never a panic or
/// a wrapped number (issue 10: each of these panicked, or in a release
/// build of the macro silently gave `WORKSPACE_BYTES == 0`).
#[test]
fn huge_sizes_are_errors_not_panics() {
    let e = one_error(quote! { pub struct Big { input: [4611686018427387904], ReLU } });
    assert!(
        e.starts_with("the input [4611686018427387904] would be 18446744073709551616 bytes"),
        "{e}"
    );
    assert!(e.contains("more than `isize::MAX`"), "{e}");
    let e = one_error(quote! {
        struct N { input: [4294967296, 4294967296, 1], LogSoftmax(dim = -1) }
    });
    assert!(e.contains("more than `isize::MAX`"), "{e}");
    let e = one_error(quote! {
        struct N {
            input: [1, 1, 18446744073709551615],
            MaxPool2d((1, 2), stride = (1, 9223372036854775808), ceil_mode = true),
        }
    });
    assert!(e.contains("the input [1, 1, 18446744073709551615]"), "{e}");
    // The pooling arithmetic itself, on an input that would fit a 128-bit
    // machine: no overflow in the ceil-mode rule.
    let win = crate::shape::Window {
        input: usize::MAX,
        kernel: 2,
        stride: 1 << 63,
        padding: (0, 0),
        dilation: 1,
    };
    assert_eq!(win.output(true).map(|c| c.value), Ok(2));
}

#[test]
fn a_layer_output_too_large_is_an_error() {
    // 2^32 channels of 2^30 × 1 floats: 2^64 bytes.
    let e = one_error(quote! {
        struct N { input: [1, 1073741824, 1], Conv2d(1, 4294967296, 1) }
    });
    assert!(
        e.starts_with("the output of this layer, [4294967296, 1073741824, 1], would be 18446744073709551616 bytes"),
        "{e}"
    );
}

#[test]
fn a_workspace_too_large_is_an_error() {
    // Each activation is 2^62 bytes and fits; two of them live at once
    // would be 2^63 bytes, one more than `isize::MAX`.
    let e = one_error(quote! {
        struct N { input: [1, 1073741824, 1073741824], Conv2d(1, 1, 1), Conv2d(1, 1, 1) }
    });
    assert!(
        e.contains("would need a workspace of 9223372036854775808 bytes"),
        "{e}"
    );
}

#[test]
fn totals_that_overflow_are_errors() {
    // Each weight is 2^62 bytes; three of them overflow `isize`.
    let e = one_error(quote! {
        struct N {
            input: [536870912],
            Linear(536870912, 2147483648, bias = false),
            Linear(2147483648, 536870912, bias = false),
            Linear(536870912, 2147483648, bias = false),
        }
    });
    assert!(
        e.contains(
            "network `N`'s weights would take 13835058055282163712 bytes, more than `isize::MAX`"
        ),
        "{e}"
    );
}

#[test]
fn extreme_dimension_indices_are_errors() {
    let e = one_error(quote! {
        struct N { input: [3], Flatten(start_dim = -170141183460469231731687303715884105727 - 1) }
    });
    assert!(e.contains("start_dim"), "{e}");
    let e = one_error(quote! {
        struct N { input: [3], Softmax(dim = -170141183460469231731687303715884105727 - 1) }
    });
    assert!(e.contains("out of range"), "{e}");
    let e = errors(quote! {
        struct N { input: [1, 9, 9], MaxPool2d(3, padding = 18446744073709551615, dilation = 9223372036854775807) }
    });
    assert!(e.iter().any(|e| e.contains("more than half")), "{e:#?}");
}

/// Deeply nested or very long constant expressions are errors before they
/// reach `syn`'s recursive expression parser (800 nested parentheses used to
/// overflow rustc's stack).
#[test]
fn nesting_and_length_are_limited() {
    let nested = |n: usize, inner: &str| format!("{}{inner}{}", "(".repeat(n), ")".repeat(n));
    let body = |arg: &str| -> TokenStream {
        format!("struct N {{ input: [3], Linear(3, {arg}) }}")
            .parse()
            .unwrap()
    };
    for n in [33, 800, 100_000] {
        let e = one_error(body(&nested(n, "4")));
        assert!(e.contains("more than 32 levels deep"), "{n}: {e}");
    }
    let e = one_error(body(&format!("{}4", "- ".repeat(100_000))));
    assert!(e.contains("more than 256 tokens"), "{e}");
    // At the limits: accepted and evaluated.
    assert!(run(body(&nested(31, "4"))).is_ok());
    assert!(run(body(&format!("{}4", "- - ".repeat(127)))).is_ok());
    let chain = format!("1{}", " + 1".repeat(127));
    let out = run(body(&chain)).unwrap().to_string();
    assert!(out.contains("[[f32 ; 3] ; 128]"), "{out}");
    // The same limits hold in shapes.
    let e = one_error(
        format!("struct N {{ input: [{}], ReLU }}", nested(40, "3"))
            .parse()
            .unwrap(),
    );
    assert!(e.contains("levels deep"), "{e}");
    let e = one_error(quote! { struct N { input: [3], Linear(3, , 4) } });
    assert!(e.contains("expected a value"), "{e}");
}

/// Found by the fuzzer: a number that overflows `f32` made the expander
/// panic (`Literal::f32_suffixed` of infinity).
#[test]
fn floats_must_be_finite_in_f32() {
    let e = one_error(quote! { struct N { input: [3], LeakyReLU(1e39) } });
    assert!(
        e.contains("negative_slope = 1e39 is not a finite f32"),
        "{e}"
    );
    let e = one_error(quote! { struct N { input: [3], ELU(alpha = -1e300) } });
    assert!(e.contains("alpha = -1e300 is not a finite f32"), "{e}");
    let e = one_error(quote! { struct N { input: [2, 3, 3], BatchNorm2d(2, eps = 1e39) } });
    assert!(e.contains("eps = 1e39 is not a finite f32"), "{e}");
}

#[test]
fn dense_chains_run_in_tiles_and_nothing_else_does() {
    let text = |body: TokenStream| run(body).unwrap().to_string();
    // The autoencoder's 640 → 128 → … → 640: tiles of 12 samples (two
    // buffers of 12 × 640 floats, 61440 bytes).
    let mlp = text(quote! {
        pub struct Mlp {
            input: [640],
            Linear(640, 128), BatchNorm1d(128), ReLU,
            Linear(128, 8), ReLU,
            Linear(8, 640),
        }
    });
    assert!(mlp.contains("fn forward_batch_with"), "{mlp}");
    assert!(mlp.contains("[[0.0f32 ; 640] ; 12]"), "{mlp}");
    assert!(mlp.contains("linear_batch :: < 640 , 128 , _ >"), "{mlp}");
    assert!(mlp.contains("61440 bytes"), "{mlp}");
    assert!(mlp.contains("batch_norm_rows :: < 128 , _ >"), "{mlp}");
    // Wider values, fewer samples per tile: 8192 / 1000 = 8.
    let wide = text(quote! {
        pub struct Wide { input: [1000], Linear(1000, 10) }
    });
    assert!(wide.contains("[[0.0f32 ; 1000] ; 8]"), "{wide}");
    // Too wide for two samples in 64 KiB: one at a time.
    let huge = text(quote! {
        pub struct Huge { input: [5000], Linear(5000, 10) }
    });
    assert!(!huge.contains("fn forward_batch_with"), "{huge}");
    // A CNN's closing dense layers: LeNet-5's convolutions and pools
    // sample by sample, then its 400 → 120 → 84 → 10 in tiles of 12.
    let cnn = text(lenet());
    assert!(cnn.contains("fn forward_batch_with"), "{cnn}");
    assert!(cnn.contains("[[0.0f32 ; 400] ; 12]"), "{cnn}");
    assert!(cnn.contains("linear_batch :: < 400 , 120 , _ >"), "{cnn}");
    assert!(cnn.contains("linear_batch :: < 84 , 10 , _ >"), "{cnn}");
    assert!(cnn.contains("sample by sample"), "{cnn}");
    // The per-sample part runs `forward_with`'s calls up to the last pool,
    // and nothing of the dense part.
    let batch = &cnn[cnn.find("fn forward_batch_with").unwrap()..];
    let per_sample = &batch[..batch.find("linear_batch").unwrap()];
    assert_eq!(
        per_sample.matches("conv :: conv2d_fused").count(),
        2,
        "{per_sample}"
    );
    assert_eq!(per_sample.matches("max_pool2d").count(), 2, "{per_sample}");
    assert!(!per_sample.contains("self . fc1"), "{per_sample}");
    // Only the chain after the residual add is tiled; a chain without a
    // linear layer is not, nor a network ending in a convolution.
    let residual = text(quote! {
        pub struct R { input: [8], Residual { Linear(8, 8) }, Linear(8, 2) }
    });
    assert!(residual.contains("fn forward_batch_with"), "{residual}");
    assert!(residual.contains("[[0.0f32 ; 8] ; 12]"), "{residual}");
    assert_eq!(residual.matches("linear_batch").count(), 1, "{residual}");
    for body in [
        quote! { pub struct A { input: [8], ReLU, Softmax(dim = 1) } },
        quote! { pub struct P { input: [1, 8, 8], Conv2d(1, 2, 3), ReLU } },
    ] {
        let out = text(body);
        assert!(!out.contains("fn forward_batch_with"), "{out}");
    }
}
