//! The `network!` procedural macro of constnet.
//!
//! Users call it through the `constnet::network!` wrapper, which passes its
//! own `$crate` path first so that generated code survives a renamed
//! dependency. The work happens in plain modules that the unit tests drive
//! through `proc-macro2`: `ast` parses, `check` computes shapes (with
//! `shape`, `spec` and `eval`) and collects every error, `memory` places
//! the activations in the workspace, `bake` reads `#[weights]` files, and
//! `expand` generates code.

// Every size, product and byte count is checked arithmetic that becomes a
// compile error, never a wrap or a panic; where an operation provably
// cannot overflow, a local `allow` says why.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod ast;
mod bake;
mod check;
mod eval;
mod expand;
mod fuse;
mod graph;
mod memory;
mod op;
mod quant;
mod shape;
mod spec;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Implementation of `constnet::network!`; call that instead.
#[doc(hidden)]
#[proc_macro]
pub fn network_impl(input: TokenStream) -> TokenStream {
    run(input.into()).into()
}

/// Parse, check, expand; any error becomes `compile_error!` invocations.
fn run(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    network(input).unwrap_or_else(syn::Error::into_compile_error)
}

/// The whole pipeline; the error holds every problem found, in every
/// network of the invocation.
fn network(input: proc_macro2::TokenStream) -> syn::Result<proc_macro2::TokenStream> {
    ast::check_nesting(input.clone())?;
    let inv = syn::parse2::<ast::Invocation>(input)?;
    let mut errors: Vec<syn::Error> = check::check_blocks(&inv).err().into_iter().collect();
    let mut out = proc_macro2::TokenStream::new();
    for net in &inv.networks {
        match one(&inv, net) {
            Ok(tokens) => out.extend(tokens),
            Err(e) => errors.push(e),
        }
    }
    match errors.into_iter().reduce(|mut a, b| {
        a.combine(b);
        a
    }) {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// One network: checked, fused, placed, baked, expanded.
fn one(inv: &ast::Invocation, net: &ast::Network) -> syn::Result<proc_macro2::TokenStream> {
    let graph = check::check(inv, net)?;
    let fused = fuse::fuse(&graph);
    let memory = memory::plan(&fused).map_err(|e| e.error(&net.ident))?;
    let baked = match &net.weights {
        Some(path) => Some(bake::bake(path, &graph, &inv.krate, &net.ident)?),
        None => None,
    };
    let int8 = match &net.int8 {
        Some(attr) => Some(int8(inv, net, attr, &graph)?),
        None => None,
    };
    let float = expand::expand(&inv.krate, net, &graph, &fused, &memory, baked.as_ref());
    Ok(quote::quote!(#float #int8))
}

/// `#[int8]`: the quantized network, through the same stages on the
/// int8-fused graph.
fn int8(
    inv: &ast::Invocation,
    net: &ast::Network,
    int8: &ast::Int8,
    graph: &graph::Graph,
) -> syn::Result<proc_macro2::TokenStream> {
    let (fused, shown) = fuse::fuse_int8(graph);
    check::int8::check(&fused, &int8.attr)?;
    let memory = memory::plan(&fused).map_err(|e| e.error(&net.ident))?;
    let name = quote::format_ident!("{}Int8", net.ident);
    let baked = match &int8.weights {
        Some(path) => Some(bake::int8::bake(path, &fused, &inv.krate, &name)?),
        None => None,
    };
    Ok(expand::int8_items(
        &inv.krate,
        net,
        &fused,
        &shown,
        graph.rows.len(),
        &memory,
        baked.as_ref(),
    ))
}
