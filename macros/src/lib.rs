//! The `network!` procedural macro of constnet.
//!
//! Users call it through the `constnet::network!` wrapper, which passes its
//! own `$crate` path first so that generated code survives a renamed
//! dependency. The work happens in plain modules that the unit tests drive
//! through `proc-macro2`: `ast` parses, `check` computes shapes (with
//! `shape`, `spec` and `eval`) and collects every error, `memory` places
//! the activations in the workspace, `bake` reads `#[weights]` files, and
//! `expand` generates code.

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
    let net = match syn::parse2::<ast::Network>(input) {
        Ok(net) => net,
        Err(e) => return e.to_compile_error(),
    };
    let plan = match check::check(&net) {
        Ok(plan) => plan,
        Err(e) => return e.to_compile_error(),
    };
    let baked = match &net.weights {
        Some(path) => match bake::bake(path, &plan, &net.krate, &net.ident) {
            Ok(baked) => Some(baked),
            Err(e) => return e.to_compile_error(),
        },
        None => None,
    };
    expand::expand(&net, &plan, baked.as_ref())
}
