//! The parsed declaration: plain data, spans kept, nothing checked yet.
//!
//! ```text
//! #[attrs] vis struct Name {
//!     input: [C, H, W],                  // or [N]
//!     name: Kind(arg, key = value) -> [shape],
//!     Kind,
//!     …
//! }
//! ```
//! Parsing accepts anything of this form; whether a kind exists, whether its
//! arguments fit and whether the shapes agree is `check`'s business, so that
//! all such errors can be reported together.

use proc_macro2::{Punct, Spacing, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{bracketed, parenthesized, token, Attribute, Expr, Ident, Token, Visibility};

/// A stretch of source, by its first and last token. On stable Rust two
/// spans cannot be joined into one, so errors keep both ends (through
/// `syn::Error::new_spanned`) and rustc underlines everything between.
#[derive(Clone, Copy)]
pub struct Range {
    pub start: Span,
    pub end: Span,
}

impl Range {
    /// The whole of `tokens`.
    pub fn of(tokens: &impl ToTokens) -> Range {
        let mut iter = tokens.to_token_stream().into_iter();
        let start = iter.next().map_or_else(Span::call_site, |t| t.span());
        let end = iter.last().map_or(start, |t| t.span());
        Range { start, end }
    }

    /// One token (or one delimited group).
    pub fn single(span: Span) -> Range {
        Range {
            start: span,
            end: span,
        }
    }
}

impl ToTokens for Range {
    fn to_tokens(&self, out: &mut TokenStream) {
        for span in [self.start, self.end] {
            let mut p = Punct::new('.', Spacing::Alone);
            p.set_span(span);
            out.extend([TokenTree::Punct(p)]);
        }
    }
}

/// The whole `network!` invocation.
pub struct Network {
    /// Path to the facade crate (`$crate` of the `network!` wrapper), so
    /// that generated code still resolves when the user renames `constnet`.
    pub krate: TokenStream,
    /// Attributes and doc comments of the struct, passed through.
    pub attrs: Vec<Attribute>,
    /// `#[cfg(…)]` attributes: applied to every generated item, so that a
    /// network compiled out leaves nothing behind.
    pub cfg: Vec<Attribute>,
    /// `#[weights("file.safetensors")]`: weights to bake in at compile time.
    pub weights: Option<syn::LitStr>,
    pub vis: Visibility,
    pub ident: Ident,
    /// The `input: [...]` lines (normally exactly one; `check` complains
    /// about none or several).
    pub inputs: Vec<InputDecl>,
    pub layers: Vec<Layer>,
}

/// `input: [1, 32, 32]`.
pub struct InputDecl {
    pub keyword: Ident,
    pub dims: Dims,
}

/// A bracketed list of dimensions, `[16, 5, 5]`.
pub struct Dims {
    pub bracket_span: Span,
    pub dims: Vec<Expr>,
}

/// One layer: `conv1: Conv2d(1, 6, 5) -> [6, 28, 28]`.
pub struct Layer {
    /// The position among the layers (the index of the same layer in an
    /// `nn.Sequential`).
    pub index: usize,
    pub name: Option<Ident>,
    pub kind: Ident,
    /// `None` when written without parentheses (`ReLU`).
    pub args: Option<Args>,
    pub assert: Option<Dims>,
}

/// The parenthesised argument list.
pub struct Args {
    pub paren_span: Span,
    pub items: Vec<Arg>,
}

/// One argument: positional (`5`) or keyword (`stride = 2`).
pub enum Arg {
    Positional(Expr),
    Keyword { name: Ident, value: Expr },
}

impl Arg {
    pub fn value(&self) -> &Expr {
        match self {
            Arg::Positional(e) | Arg::Keyword { value: e, .. } => e,
        }
    }
}

/// One comma-separated entry of the body, before input lines and layers are
/// told apart.
enum Entry {
    Input(InputDecl),
    Layer(Layer),
}

impl Parse for Network {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let krate_group;
        bracketed!(krate_group in input);
        let krate: TokenStream = krate_group.parse()?;

        let mut attrs = input.call(Attribute::parse_outer)?;
        let mut weights = None;
        if let Some(i) = attrs.iter().position(|a| a.path().is_ident("weights")) {
            let attr = attrs.remove(i);
            let path: syn::LitStr = attr.parse_args().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected `#[weights(\"path/to/file.safetensors\")]`, a path relative to the crate's directory or to this source file",
                )
            })?;
            weights = Some(path);
            if let Some(again) = attrs.iter().find(|a| a.path().is_ident("weights")) {
                return Err(syn::Error::new_spanned(
                    again,
                    "only one `#[weights(…)]` attribute is allowed",
                ));
            }
        }
        let (cfg, attrs) = split_cfg(attrs)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![struct]>()?;
        let ident: Ident = input.parse()?;
        let body;
        syn::braced!(body in input);
        let entries = Punctuated::<Entry, Token![,]>::parse_terminated(&body)?;
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the network body"));
        }

        let mut inputs = Vec::new();
        let mut layers = Vec::new();
        for entry in entries {
            match entry {
                Entry::Input(decl) => inputs.push(decl),
                Entry::Layer(mut layer) => {
                    layer.index = layers.len();
                    layers.push(layer);
                }
            }
        }
        Ok(Network {
            krate,
            attrs,
            cfg,
            weights,
            vis,
            ident,
            inputs,
            layers,
        })
    }
}

/// Separates `#[cfg(…)]` from the other attributes. A `cfg_attr` that would
/// expand to `cfg`, `cfg_attr` or `weights` is refused: it would apply to the
/// struct alone (the compiler expands it after this macro has run), leaving
/// the generated items behind or the weights unread.
fn split_cfg(attrs: Vec<Attribute>) -> syn::Result<(Vec<Attribute>, Vec<Attribute>)> {
    let (cfg, attrs): (Vec<_>, Vec<_>) = attrs.into_iter().partition(|a| a.path().is_ident("cfg"));
    for attr in attrs.iter().filter(|a| a.path().is_ident("cfg_attr")) {
        let metas = attr.parse_args_with(Punctuated::<syn::Meta, Token![,]>::parse_terminated)?;
        for meta in metas.iter().skip(1) {
            let path = meta.path();
            if ["cfg", "cfg_attr", "weights"]
                .iter()
                .any(|n| path.is_ident(n))
            {
                return Err(syn::Error::new_spanned(
                    path,
                    format!(
                        "`#[cfg_attr(…, {})]` on a network would apply to the struct alone, not to the items generated for it; write `#[cfg(…)]` on the whole declaration, or declare the network twice under opposite `#[cfg(…)]`s",
                        path.to_token_stream()
                    ),
                ));
            }
        }
    }
    Ok((cfg, attrs))
}

impl Parse for Entry {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut name = None;
        if input.peek(Ident) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
            let ident: Ident = input.parse()?;
            input.parse::<Token![:]>()?;
            if ident == "input" && input.peek(token::Bracket) {
                let dims = input.parse()?;
                return Ok(Entry::Input(InputDecl {
                    keyword: ident,
                    dims,
                }));
            }
            name = Some(ident);
        }
        let kind: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a layer such as `Conv2d(1, 6, 5)` or `ReLU`",
            )
        })?;
        let args = if input.peek(token::Paren) {
            Some(input.parse()?)
        } else {
            None
        };
        let assert = if input.peek(Token![->]) {
            input.parse::<Token![->]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        if !input.is_empty() && !input.peek(Token![,]) {
            return Err(input.error("expected `,` after the layer"));
        }
        Ok(Entry::Layer(Layer {
            index: 0,
            name,
            kind,
            args,
            assert,
        }))
    }
}

impl Parse for Dims {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let content;
        let bracket = bracketed!(content in input);
        let dims = Punctuated::<ConstExpr, Token![,]>::parse_terminated(&content)?;
        Ok(Dims {
            bracket_span: bracket.span.join(),
            dims: dims.into_iter().map(|e| e.0).collect(),
        })
    }
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let content;
        let paren = parenthesized!(content in input);
        let items = Punctuated::<Arg, Token![,]>::parse_terminated(&content)?;
        Ok(Args {
            paren_span: paren.span.join(),
            items: items.into_iter().collect(),
        })
    }
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let ConstExpr(value) = input.parse()?;
            return Ok(Arg::Keyword { name, value });
        }
        let ConstExpr(value) = input.parse()?;
        Ok(Arg::Positional(value))
    }
}

/// The most delimiters a constant expression may nest (`((1))` is 2).
pub const MAX_DEPTH: usize = 32;
/// The most tokens a constant expression may have.
pub const MAX_TOKENS: usize = 256;

/// One constant expression (an argument or a dimension), up to the next
/// top-level comma. Its tokens are counted and its nesting measured before
/// `syn` parses them: the expression parser and the evaluator recurse once
/// per level of nesting or unary operator, and without these limits an
/// argument of a few thousand nested parentheses overflows the compiler's
/// stack. Real arguments (`16 * 5 * 5`) are far below both limits.
struct ConstExpr(Expr);

impl Parse for ConstExpr {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let start = input.span();
        let tokens = input.step(|cursor| {
            let mut rest = *cursor;
            let mut tokens = TokenStream::new();
            while let Some((tt, next)) = rest.token_tree() {
                if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                    break;
                }
                tokens.extend([tt]);
                rest = next;
            }
            Ok((tokens, rest))
        })?;
        if tokens.is_empty() {
            return Err(syn::Error::new(start, "expected a value"));
        }
        check_limits(&tokens)?;
        syn::parse2(tokens).map(ConstExpr)
    }
}

/// Errors if any group in the whole invocation nests deeper than a
/// declaration can (the body, a layer's arguments, and [`MAX_DEPTH`] levels
/// in a value). Run before `syn` sees the tokens: `syn` flattens every group
/// recursively, so a few thousand nested delimiters anywhere would
/// overflow the stack. Iterative, so it cannot overflow itself.
pub fn check_nesting(tokens: TokenStream) -> syn::Result<()> {
    const LIMIT: usize = MAX_DEPTH + 8;
    let mut stack = vec![tokens.into_iter()];
    while let Some(top) = stack.last_mut() {
        match top.next() {
            Some(TokenTree::Group(g)) if stack.len() > LIMIT => {
                return Err(syn::Error::new(
                    g.span_open(),
                    format!("parentheses or brackets nested more than {MAX_DEPTH} levels deep in a value; no declaration needs that many"),
                ));
            }
            Some(TokenTree::Group(g)) => stack.push(g.stream().into_iter()),
            Some(_) => {}
            None => {
                stack.pop();
            }
        }
    }
    Ok(())
}

/// Errors if `tokens` nest deeper than [`MAX_DEPTH`] or number more than
/// [`MAX_TOKENS`] (delimited groups count as one token each, plus their
/// contents). Stops looking at the first excess, so it is itself bounded.
fn check_limits(tokens: &TokenStream) -> syn::Result<()> {
    fn walk(tokens: &TokenStream, depth: usize, count: &mut usize) -> syn::Result<()> {
        for tt in tokens.clone() {
            *count = count.saturating_add(1);
            if *count > MAX_TOKENS {
                return Err(syn::Error::new(
                    tt.span(),
                    format!("this value has more than {MAX_TOKENS} tokens; a constant argument is a literal or a short arithmetic expression"),
                ));
            }
            if let TokenTree::Group(g) = &tt {
                if depth >= MAX_DEPTH {
                    return Err(syn::Error::new(
                        g.span_open(),
                        format!("this value nests parentheses or brackets more than {MAX_DEPTH} levels deep"),
                    ));
                }
                walk(&g.stream(), depth.saturating_add(1), count)?;
            }
        }
        Ok(())
    }
    walk(tokens, 0, &mut 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: TokenStream) -> syn::Result<Network> {
        syn::parse2(tokens)
    }

    #[test]
    fn parses_lenet_entries() {
        let net = parse(quote! {
            [::constnet]
            /// Docs.
            pub struct LeNet5 {
                input: [1, 32, 32],
                conv1: Conv2d(1, 6, 5),
                ReLU,
                MaxPool2d(2) -> [6, 14, 14],
                fc: Linear(16 * 5 * 5, 120, bias = false),
            }
        })
        .unwrap();
        assert_eq!(net.ident, "LeNet5");
        assert_eq!(net.attrs.len(), 1);
        assert_eq!(net.inputs.len(), 1);
        assert_eq!(net.inputs[0].dims.dims.len(), 3);
        assert_eq!(net.layers.len(), 4);
        assert_eq!(net.layers[0].name.as_ref().unwrap(), "conv1");
        assert!(net.layers[1].args.is_none());
        assert_eq!(net.layers[2].index, 2);
        assert!(net.layers[2].assert.is_some());
        let args = &net.layers[3].args.as_ref().unwrap().items;
        assert!(matches!(&args[2], Arg::Keyword { name, .. } if name == "bias"));
    }

    #[test]
    fn a_missing_comma_is_a_parse_error() {
        let err = parse(quote! { [c] struct N { input: [3], ReLU Tanh } })
            .err()
            .unwrap();
        assert!(err.to_string().contains("expected `,`"), "{err}");
    }

    #[test]
    fn a_literal_where_a_layer_belongs_is_a_parse_error() {
        let err = parse(quote! { [c] struct N { input: [3], 42 } })
            .err()
            .unwrap();
        assert!(err.to_string().contains("expected a layer"), "{err}");
    }
}
