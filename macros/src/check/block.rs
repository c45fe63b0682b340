//! Blocks: declared once with parameters (`block BasicBlock(inplanes,
//! planes, stride = 1) { … }`), used like a layer (`BasicBlock(64, 128,
//! stride = 2)`). Each use binds the arguments like a layer's (positional,
//! then keyword, then defaults), is a module of its own (its layers' keys
//! are prefixed with the use's name or index) and is checked on its own
//! shapes. An error inside a block is reported where it is written, and
//! once more at each use it happens in, with the values of the parameters.

use super::check_assert;
use super::walk::{Scope, Tip, Walker, GROUPS};
use super::Place;
use crate::ast::{BlockDecl, Layer, Range};
use crate::eval::{eval, Env, Value};
use crate::spec::{self, Default, Param, Spec, Ty};

/// Checks the declarations themselves: unique names that do not shadow a
/// layer, unique parameters, defaults that evaluate.
pub(super) fn declarations(blocks: &[BlockDecl]) -> syn::Result<()> {
    let mut errors: Vec<syn::Error> = Vec::new();
    let mut seen: Vec<&BlockDecl> = Vec::new();
    for block in blocks {
        let name = block.ident.to_string();
        if seen.iter().any(|b| b.ident == block.ident) {
            errors.push(syn::Error::new_spanned(
                &block.ident,
                format!("two blocks are named `{name}`"),
            ));
        } else if spec::find(&name).is_some() || GROUPS.contains(&name.as_str()) {
            errors.push(syn::Error::new_spanned(
                &block.ident,
                format!(
                    "block `{name}` has the name of a layer of the vocabulary; choose another name"
                ),
            ));
        }
        seen.push(block);
        for (i, param) in block.params.iter().enumerate() {
            let text = param.ident.to_string();
            if block.params[..i].iter().any(|p| p.ident == param.ident) {
                errors.push(syn::Error::new_spanned(
                    &param.ident,
                    format!("block `{name}` has two parameters named `{text}`"),
                ));
            }
            if ["None", "True", "False"].contains(&text.as_str()) {
                errors.push(syn::Error::new_spanned(
                    &param.ident,
                    format!("`{text}` is a value, not a parameter name"),
                ));
            }
            if let Some(Err(e)) = param.default.as_ref().map(|d| eval(d, &Env::default())) {
                errors.push(e);
            }
        }
    }
    match errors.into_iter().reduce(|mut a, b| {
        a.combine(b);
        a
    }) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

impl Walker<'_> {
    /// One use of `block` at `place`, from the input `tip`.
    pub(super) fn use_block(
        &mut self,
        block: &BlockDecl,
        layer: &Layer,
        place: &Place,
        scope: &mut Scope,
        tip: Option<Tip>,
    ) -> Option<Tip> {
        let name = block.ident.to_string();
        if self.stack.contains(&name) {
            let mut chain = self.stack.clone();
            chain.push(name.clone());
            let msg = format!(
                "block `{name}` uses itself ({}); a block cannot contain itself",
                chain.join(" → ")
            );
            self.error(Range::single(layer.kind.span()), msg);
            return None;
        }
        let (env, display) = self.bind_block(block, layer, &scope.env)?;
        let module = self.open(place, display.clone(), layer.kind.span(), scope, &tip);
        let mut child = scope.child(place, env);
        let before = self.found;
        self.stack.push(name);
        let out = self.entries(&block.body, &mut child, tip);
        self.stack.pop();
        self.close(module, &out);
        if self.found > before {
            let msg = format!(
                "the error{} above {} in this use of block `{display}`, as `{}`",
                if self.found > before.saturating_add(1) {
                    "s"
                } else {
                    ""
                },
                if self.found > before.saturating_add(1) {
                    "are"
                } else {
                    "is"
                },
                place.key
            );
            self.error(layer.range(), msg);
        }
        if let (Some(dims), Some(out)) = (&layer.assert, &out) {
            let mut errors = Vec::new();
            check_assert(
                dims,
                &place.describe(&display),
                &out.flow,
                &scope.env,
                &mut errors,
            );
            self.report(errors);
        }
        out
    }

    /// Binds the use's arguments to the block's parameters (evaluated where
    /// the block is used); returns them and the use as text,
    /// `BasicBlock(64, 128, stride = 2)`.
    fn bind_block(&mut self, block: &BlockDecl, layer: &Layer, env: &Env) -> Option<(Env, String)> {
        let name = block.ident.to_string();
        let names: Vec<String> = block.params.iter().map(|p| p.ident.to_string()).collect();
        let defaults: Vec<Option<Value>> = block
            .params
            .iter()
            .map(|p| {
                p.default
                    .as_ref()
                    .and_then(|d| eval(d, &Env::default()).ok())
            })
            .collect();
        let params: Vec<Param> = names
            .iter()
            .zip(&defaults)
            .map(|(n, d)| Param {
                name: n,
                ty: Ty::Any,
                default: d.as_ref().map_or(Default::Required, Default::Given),
                inferable: false,
            })
            .collect();
        let spec = Spec {
            name: &name,
            params: &params,
        };
        let mut errors = Vec::new();
        let bound = spec::bind(&spec, layer, env, &mut errors);
        self.report(errors);
        let bound = bound?;
        let mut shown = Vec::new();
        let mut values = Env::default();
        for (param, default) in names.iter().zip(&defaults) {
            let value = bound.get(param).value.clone();
            match default {
                None => shown.push(value.describe()),
                Some(d) if *d != value => shown.push(format!("{param} = {}", value.describe())),
                Some(_) => {}
            }
            values.values.insert(param.clone(), value);
        }
        Some((values, format!("{name}({})", shown.join(", "))))
    }
}
