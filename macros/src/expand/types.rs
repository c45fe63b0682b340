//! Types and literals shared by the generators.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::shape::Shape;

pub fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

/// `[f32; n]` or `[[[f32; w]; h]; c]`.
pub fn tensor_type(shape: Shape) -> TokenStream {
    param_type(&shape.dims())
}

/// The type of a tensor with these dimensions (PyTorch's layout).
pub fn param_type(dims: &[usize]) -> TokenStream {
    array_type(&quote!(f32), dims)
}

/// `[[elem; d2]; d1]…` for `dims = [d1, d2, …]`.
pub fn array_type(elem: &TokenStream, dims: &[usize]) -> TokenStream {
    dims.iter().rev().fold(elem.clone(), |inner, &d| {
        let d = lit(d);
        quote!([#inner; #d])
    })
}

/// The element type of a workspace: the float network's `f32`, or the int8
/// network's `i8`. Each has its array types and its runtime views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    F32,
    I8,
}

impl Elem {
    /// The array type of a value of `shape`.
    pub fn ty(self, shape: Shape) -> TokenStream {
        match self {
            Elem::F32 => tensor_type(shape),
            Elem::I8 => array_type(&quote!(i8), &shape.dims()),
        }
    }

    /// The runtime module with `view`, `view_mut` and `flatten` for it.
    pub fn tensors(self, krate: &TokenStream) -> TokenStream {
        match self {
            Elem::F32 => quote!(#krate::tensor),
            Elem::I8 => quote!(#krate::quant::tensor),
        }
    }
}

/// A zero value of a tensor, usable in `const` context.
pub fn param_zero(dims: &[usize]) -> TokenStream {
    dims.iter().rev().fold(quote!(0.0), |inner, &d| {
        let d = lit(d);
        quote!([#inner; #d])
    })
}

pub fn zero(shape: Shape) -> TokenStream {
    param_zero(&shape.dims())
}

/// `&[a, b, c]`.
pub fn dims_tokens(dims: &[usize]) -> TokenStream {
    let dims = dims.iter().map(|&d| lit(d));
    quote!(&[#(#dims),*])
}

/// A shape as `[C, H, W]`; a vector as `[N, 1, 1]`.
pub fn map_dims(shape: Shape) -> [usize; 3] {
    match shape {
        Shape::Map { c, h, w } => [c, h, w],
        Shape::Flat(n) => [n, 1, 1],
    }
}

/// `a..b` over constants, or `..b` from the start.
pub fn range(start: usize, end: usize) -> TokenStream {
    let end = lit(end);
    if start == 0 {
        quote!(..#end)
    } else {
        let start = lit(start);
        quote!(#start..#end)
    }
}

/// `[[[f32 ; 32] ; 32] ; 1]` → `[[[f32; 32]; 32]; 1]`.
pub fn compact(ty: &TokenStream) -> String {
    ty.to_string()
        .replace(" ;", ";")
        .replace("[ ", "[")
        .replace(" ]", "]")
}

/// Copies the tensor `src` (an `&T` expression) into `dst` (an `&mut
/// [f32]` expression of the same length), through `merge::copy` on
/// fixed-size arrays: no temporary on the stack (which a debug build would
/// keep for every copy of a function) and no length check left to panic.
pub fn copy(
    krate: &TokenStream,
    src: &TokenStream,
    dst: &TokenStream,
    shape: Shape,
) -> TokenStream {
    let n = lit(shape.len().unwrap_or(0));
    quote! {
        #krate::merge::copy(
            #krate::tensor::view::<[f32; #n]>(#krate::Tensor::as_flat(#src)),
            #krate::tensor::view_mut::<[f32; #n]>(#dst),
        );
    }
}
