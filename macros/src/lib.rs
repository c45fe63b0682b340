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
mod memory;
mod op;
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

/// The whole pipeline; the error holds every problem found.
fn network(input: proc_macro2::TokenStream) -> syn::Result<proc_macro2::TokenStream> {
    ast::check_nesting(input.clone())?;
    let net = syn::parse2::<ast::Network>(input)?;
    let plan = check::check(&net)?;
    let memory = memory::plan(&plan).map_err(|e| e.error(&net.ident))?;
    let baked = match &net.weights {
        Some(path) => Some(bake::bake(path, &plan, &net.krate, &net.ident)?),
        None => None,
    };
    Ok(expand::expand(&net, &plan, &memory, baked.as_ref()))
}
