//! The parsed declaration: plain data, spans kept, nothing checked yet.
//!
//! ```text
//! block Name(param, param = default) {       // reusable, parametrised
//!     …entries…
//! }
//! #[attrs] vis struct Name {                 // a network
//!     input: [C, H, W],                      // or [N]
//!     name: Kind(arg, key = value) -> [shape],   // a layer, or a use of a block
//!     Kind,
//!     name: Sequential { …entries… },        // a nested module (PyTorch's keys)
//!     Residual { …entries… },                // x + entries(x)
//!     Add { branch, branch, … },             // the sum of the branches
//!     Cat { branch, branch, … },             // their concatenation along channels
//!     if cond { …entries… } else { … },      // inside blocks, on their parameters
//!     …
//! }
//! ```
//! A branch is `{ …entries… }` (`{}` is the identity), one entry, or
//! `if cond { … } else { … }`. `Residual(when = cond) { … }` adds its input
//! only where `cond` holds.
//!
//! Parsing accepts anything of this form; whether a kind exists, whether its
//! arguments fit and whether the shapes agree is `check`'s business, so that
//! all such errors can be reported together.

use proc_macro2::{Delimiter, Punct, Spacing, Span, TokenStream, TokenTree};
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

/// The whole `network!` invocation: blocks, then one or more networks.
pub struct Invocation {
    /// Path to the facade crate (`$crate` of the `network!` wrapper), so
    /// that generated code still resolves when the user renames `constnet`.
    pub krate: TokenStream,
    /// The `block` declarations, usable by every network of the invocation.
    pub blocks: Vec<BlockDecl>,
    pub networks: Vec<Network>,
}

/// One `struct` declaration: a network.
pub struct Network {
    /// Attributes and doc comments of the struct, passed through.
    pub attrs: Vec<Attribute>,
    /// `#[cfg(…)]` attributes: applied to every generated item, so that a
    /// network compiled out leaves nothing behind.
    pub cfg: Vec<Attribute>,
    /// `#[weights("file.safetensors")]`: weights to bake in at compile time.
    pub weights: Option<syn::LitStr>,
    /// `#[int8]`: also generate the quantized network `<Name>Int8`.
    pub int8: Option<Int8>,
    pub vis: Visibility,
    pub ident: Ident,
    /// The entries of the body, `input:` lines included (`check` wants
    /// exactly one, first).
    pub body: Vec<Entry>,
}

/// `block BasicBlock(inplanes, planes, stride = 1) { … }`.
pub struct BlockDecl {
    pub ident: Ident,
    pub params: Vec<BlockParam>,
    pub body: Vec<Entry>,
}

/// One parameter of a block, with its default.
pub struct BlockParam {
    pub ident: Ident,
    pub default: Option<Expr>,
}

/// One comma-separated entry of a body.
pub enum Entry {
    /// `input: [1, 32, 32]`.
    Input(InputDecl),
    /// A layer or the use of a block: `conv1: Conv2d(1, 6, 5) -> […]`.
    Layer(Layer),
    /// `Sequential { … }`, `Residual { … }`, `Add { … }`, `Cat { … }`.
    Group(Group),
    /// `if cond { … } else { … }`: its entries take its place.
    If(If),
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
    pub name: Option<Ident>,
    pub kind: Ident,
    /// `None` when written without parentheses (`ReLU`).
    pub args: Option<Args>,
    pub assert: Option<Dims>,
}

/// A group of entries in braces: `name: Kind(args) { … } -> [shape]`.
pub struct Group {
    pub name: Option<Ident>,
    pub kind: Ident,
    pub args: Option<Args>,
    pub brace_span: Span,
    pub body: GroupBody,
    pub assert: Option<Dims>,
}

/// What the braces hold: one sequence of entries (`Sequential`,
/// `Residual`, and any unknown kind), or parallel branches (`Add`, `Cat`).
pub enum GroupBody {
    Seq(Vec<Entry>),
    Branches(Vec<Branch>),
}

/// The group kinds whose braces hold branches.
pub const BRANCHING: &[&str] = &["Add", "Cat"];

/// One branch of `Add` or `Cat`.
pub enum Branch {
    /// `{ … }`, or a single entry; `{}` is the identity.
    Seq { range: Range, entries: Vec<Entry> },
    /// `if cond { … } else { … }` (`check` requires the `else`).
    If(Box<If>),
}

/// `if cond { … } else if cond { … } else { … }`.
pub struct If {
    pub keyword: Span,
    pub cond: Expr,
    pub then: Vec<Entry>,
    pub otherwise: Option<Else>,
}

pub enum Else {
    Block(Vec<Entry>),
    If(Box<If>),
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

impl Entry {
    /// The stretch of source the entry spans, from its name (or kind) to its
    /// last token.
    pub fn range(&self) -> Range {
        match self {
            Entry::Input(i) => Range {
                start: i.keyword.span(),
                end: i.dims.bracket_span,
            },
            Entry::Layer(l) => l.range(),
            Entry::Group(g) => Range {
                start: g.name.as_ref().unwrap_or(&g.kind).span(),
                end: g.assert.as_ref().map_or(g.brace_span, |d| d.bracket_span),
            },
            Entry::If(i) => Range::single(i.keyword),
        }
    }
}

impl Layer {
    /// From its name (or kind) to its last token.
    pub fn range(&self) -> Range {
        let start = self.name.as_ref().unwrap_or(&self.kind).span();
        let end = match (&self.assert, &self.args) {
            (Some(d), _) => d.bracket_span,
            (None, Some(a)) => a.paren_span,
            (None, None) => self.kind.span(),
        };
        Range { start, end }
    }
}

impl Arg {
    pub fn value(&self) -> &Expr {
        match self {
            Arg::Positional(e) | Arg::Keyword { value: e, .. } => e,
        }
    }
}

impl Parse for Invocation {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let krate_group;
        bracketed!(krate_group in input);
        let krate: TokenStream = krate_group.parse()?;
        let mut blocks = Vec::new();
        let mut networks = Vec::new();
        while !input.is_empty() {
            let attrs = input.call(Attribute::parse_outer)?;
            if input.peek(Ident) && input.peek2(Ident) && input.fork().parse::<Ident>()? == "block"
            {
                blocks.push(parse_block(input, &attrs)?);
            } else {
                networks.push(parse_network(input, attrs)?);
            }
        }
        if networks.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                "`network!` declares at least one network: `pub struct Name { input: [C, H, W], … }`",
            ));
        }
        Ok(Invocation {
            krate,
            blocks,
            networks,
        })
    }
}

/// `block Name(params) { … }` (after its attributes: doc comments only).
fn parse_block(input: ParseStream, attrs: &[Attribute]) -> syn::Result<BlockDecl> {
    if let Some(attr) = attrs.iter().find(|a| !a.path().is_ident("doc")) {
        return Err(syn::Error::new_spanned(
            attr,
            "a block takes doc comments only; attributes belong on the network",
        ));
    }
    input.parse::<Ident>()?; // `block`
    let ident: Ident = input.parse()?;
    let content;
    parenthesized!(content in input);
    let params = Punctuated::<BlockParam, Token![,]>::parse_terminated(&content)?;
    let body = braced_entries(input)?.1;
    Ok(BlockDecl {
        ident,
        params: params.into_iter().collect(),
        body,
    })
}

impl Parse for BlockParam {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let ident: Ident = input.parse()?;
        let default = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse::<ConstExpr>()?.0)
        } else {
            None
        };
        Ok(BlockParam { ident, default })
    }
}

/// `[#[weights(…)]] vis struct Name { … }` after its attributes.
fn parse_network(input: ParseStream, mut attrs: Vec<Attribute>) -> syn::Result<Network> {
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
    let int8 = take_int8(&mut attrs)?;
    let (cfg, attrs) = split_cfg(attrs)?;
    let vis: Visibility = input.parse()?;
    input.parse::<Token![struct]>()?;
    let ident: Ident = input.parse()?;
    let body = braced_entries(input)?.1;
    Ok(Network {
        attrs,
        cfg,
        weights,
        int8,
        vis,
        ident,
        body,
    })
}

/// `#[int8]` or `#[int8(weights = "file.safetensors")]`.
pub struct Int8 {
    /// The attribute, for errors about the network as a whole.
    pub attr: Attribute,
    /// An int8 file saved by `to_safetensors`, to bake in at compile time.
    pub weights: Option<syn::LitStr>,
}

/// What `#[int8(…)]` takes.
const INT8_FORMS: &str = "expected `#[int8]`, which generates the quantized network `<Name>Int8` next to the float one, or `#[int8(weights = \"path/to/file.safetensors\")]`, which also bakes in an int8 file saved by `to_safetensors`";

/// Removes `#[int8]` / `#[int8(weights = "…")]` from the attributes, at
/// most one.
fn take_int8(attrs: &mut Vec<Attribute>) -> syn::Result<Option<Int8>> {
    let Some(i) = attrs.iter().position(|a| a.path().is_ident("int8")) else {
        return Ok(None);
    };
    let attr = attrs.remove(i);
    let weights = match &attr.meta {
        syn::Meta::Path(_) => None,
        syn::Meta::List(list) => Some(list.parse_args_with(int8_weights).map_err(|e| {
            let mut e = e;
            e.combine(syn::Error::new_spanned(&attr, INT8_FORMS));
            e
        })?),
        syn::Meta::NameValue(_) => return Err(syn::Error::new_spanned(&attr, INT8_FORMS)),
    };
    if let Some(again) = attrs.iter().find(|a| a.path().is_ident("int8")) {
        return Err(syn::Error::new_spanned(
            again,
            "only one `#[int8]` attribute is allowed",
        ));
    }
    Ok(Some(Int8 { attr, weights }))
}

/// `weights = "file.safetensors"`, the arguments of `#[int8(…)]`.
fn int8_weights(input: ParseStream) -> syn::Result<syn::LitStr> {
    let key: Ident = input.parse()?;
    if key != "weights" {
        return Err(syn::Error::new_spanned(
            &key,
            format!("unknown `#[int8]` argument `{key}`"),
        ));
    }
    input.parse::<Token![=]>()?;
    let path: syn::LitStr = input.parse()?;
    if !input.is_empty() {
        return Err(input.error("unexpected tokens after the weights file"));
    }
    Ok(path)
}

/// `{ entry, entry, … }`, with the braces' span.
fn braced_entries(input: ParseStream) -> syn::Result<(Span, Vec<Entry>)> {
    let content;
    let brace = syn::braced!(content in input);
    let entries = Punctuated::<Entry, Token![,]>::parse_terminated(&content)?;
    Ok((brace.span.join(), entries.into_iter().collect()))
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
            if ["cfg", "cfg_attr", "weights", "int8"]
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
        if input.peek(Token![if]) {
            return Ok(Entry::If(input.parse()?));
        }
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
        let entry = if input.peek(token::Brace) {
            let content;
            let brace = syn::braced!(content in input);
            let body = if BRANCHING.iter().any(|b| kind == b) {
                let branches = Punctuated::<Branch, Token![,]>::parse_terminated(&content)?;
                GroupBody::Branches(branches.into_iter().collect())
            } else {
                let entries = Punctuated::<Entry, Token![,]>::parse_terminated(&content)?;
                GroupBody::Seq(entries.into_iter().collect())
            };
            Entry::Group(Group {
                name,
                kind,
                args,
                brace_span: brace.span.join(),
                body,
                assert: parse_assert(input)?,
            })
        } else {
            Entry::Layer(Layer {
                name,
                kind,
                args,
                assert: parse_assert(input)?,
            })
        };
        if !input.is_empty() && !input.peek(Token![,]) {
            return Err(input.error("expected `,` after the layer"));
        }
        Ok(entry)
    }
}

/// `-> [shape]`, if present.
fn parse_assert(input: ParseStream) -> syn::Result<Option<Dims>> {
    if !input.peek(Token![->]) {
        return Ok(None);
    }
    input.parse::<Token![->]>()?;
    Ok(Some(input.parse()?))
}

impl Parse for Branch {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(token::Brace) {
            let (span, entries) = braced_entries(input)?;
            return Ok(Branch::Seq {
                range: Range::single(span),
                entries,
            });
        }
        if input.peek(Token![if]) {
            return Ok(Branch::If(Box::new(input.parse()?)));
        }
        let entry: Entry = input.parse()?;
        Ok(Branch::Seq {
            range: entry.range(),
            entries: vec![entry],
        })
    }
}

impl Parse for If {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let keyword = input.parse::<Token![if]>()?.span;
        // The condition runs up to the braces of the body, as in Rust.
        let tokens = input.step(|cursor| {
            let mut rest = *cursor;
            let mut tokens = TokenStream::new();
            while let Some((tt, next)) = rest.token_tree() {
                if matches!(&tt, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace) {
                    break;
                }
                tokens.extend([tt]);
                rest = next;
            }
            Ok((tokens, rest))
        })?;
        if tokens.is_empty() {
            return Err(syn::Error::new(keyword, "expected a condition after `if`"));
        }
        check_limits(&tokens)?;
        let cond = syn::parse2(tokens)?;
        let then = braced_entries(input)?.1;
        let otherwise = if input.peek(Token![else]) {
            input.parse::<Token![else]>()?;
            if input.peek(Token![if]) {
                Some(Else::If(Box::new(input.parse()?)))
            } else {
                Some(Else::Block(braced_entries(input)?.1))
            }
        } else {
            None
        };
        Ok(If {
            keyword,
            cond,
            then,
            otherwise,
        })
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

    fn parse(tokens: TokenStream) -> syn::Result<Invocation> {
        syn::parse2(tokens)
    }

    #[test]
    fn parses_lenet_entries() {
        let inv = parse(quote! {
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
        let net = &inv.networks[0];
        assert_eq!(net.ident, "LeNet5");
        assert_eq!(net.attrs.len(), 1);
        assert_eq!(net.body.len(), 5);
        assert!(matches!(&net.body[0], Entry::Input(i) if i.dims.dims.len() == 3));
        let Entry::Layer(conv1) = &net.body[1] else {
            panic!("a layer")
        };
        assert_eq!(conv1.name.as_ref().unwrap(), "conv1");
        assert!(matches!(&net.body[2], Entry::Layer(l) if l.args.is_none()));
        assert!(matches!(&net.body[3], Entry::Layer(l) if l.assert.is_some()));
        let Entry::Layer(fc) = &net.body[4] else {
            panic!("a layer")
        };
        let args = &fc.args.as_ref().unwrap().items;
        assert!(matches!(&args[2], Arg::Keyword { name, .. } if name == "bias"));
    }

    #[test]
    fn parses_blocks_groups_and_conditions() {
        let inv = parse(quote! {
            [::constnet]
            /// A block.
            block Basic(inp, out, stride = 1) {
                Add {
                    { conv1: Conv2d(inp, out, 3, stride = stride, padding = 1), ReLU },
                    if stride != 1 || inp != out { downsample: Sequential { Conv2d(inp, out, 1, stride = stride) } } else {},
                },
                ReLU,
            }
            pub struct Net {
                input: [3, 8, 8],
                layer1: Sequential { Basic(3, 8, stride = 2), Basic(8, 8) },
                Cat { {}, Conv2d(_, 4, 1), if true { ReLU } else if false { Tanh } else { } } -> [20, 4, 4],
                Residual { ReLU },
            }
        })
        .unwrap();
        assert_eq!(inv.blocks.len(), 1);
        let block = &inv.blocks[0];
        assert_eq!(block.ident, "Basic");
        assert_eq!(block.params.len(), 3);
        assert!(block.params[2].default.is_some());
        let Entry::Group(add) = &block.body[0] else {
            panic!("a group")
        };
        let GroupBody::Branches(branches) = &add.body else {
            panic!("branches")
        };
        assert!(matches!(&branches[0], Branch::Seq { entries, .. } if entries.len() == 2));
        assert!(matches!(&branches[1], Branch::If(i) if i.otherwise.is_some()));
        let net = &inv.networks[0];
        let Entry::Group(cat) = &net.body[2] else {
            panic!("a group")
        };
        assert!(cat.assert.is_some());
        let GroupBody::Branches(branches) = &cat.body else {
            panic!("branches")
        };
        assert!(matches!(&branches[0], Branch::Seq { entries, .. } if entries.is_empty()));
        assert!(matches!(&branches[2], Branch::If(i) if matches!(i.otherwise, Some(Else::If(_)))));
        assert!(matches!(&net.body[3], Entry::Group(g) if matches!(g.body, GroupBody::Seq(_))));
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
