//! The walk over a network's entries: sequences in order, groups, blocks
//! and conditions, building the [`Graph`] as it goes.
//!
//! Every entry sits in a *module* — the network itself, a `Sequential`, or
//! one use of a block — which gives its unnamed entries their index (the
//! key PyTorch's `nn.Sequential` gives them) and prefixes its names
//! (`layer1.0.conv1`). `Add`, `Cat`, `Residual` and `if` are not modules:
//! what is inside them counts on in the module around them, as the layers
//! of a PyTorch module's `forward` do.

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::Span;
use quote::format_ident;
use syn::Ident;

use super::{check_assert, check_input, check_layer, keeps_shape, unknown_layer, Flow, Place};
use crate::ast::{self, BlockDecl, Else, Entry, Group, GroupBody, If, Layer, Range};
use crate::eval::{eval_bool, Env};
use crate::graph::{self, Graph, Node, Post, Row, Totals, Value};
use crate::shape::{Receptive, Shape};
use crate::spec;

/// The group kinds.
pub(super) const GROUPS: &[&str] = &["Sequential", "Residual", "Add", "Cat"];

/// What flows out of an entry: the shape with its provenance, and the graph
/// value holding it (`None` once an error has made the graph moot).
#[derive(Clone)]
pub(super) struct Tip {
    pub flow: Flow,
    pub value: Option<Value>,
}

impl Tip {
    /// The same shape, no longer backed by a value.
    fn unknown(self) -> Tip {
        Tip {
            value: None,
            ..self
        }
    }
}

/// A module being walked: its parameters, its names, its counter.
pub(super) struct Scope {
    /// A block's parameters (empty elsewhere).
    pub env: Env,
    /// The key prefix, `layer1.0.` (empty for the network's own entries).
    key: String,
    /// The field prefix, `layer1_0_`.
    field: String,
    pub depth: usize,
    root: bool,
    /// The index of the next entry.
    next: usize,
    /// Names given so far, with the index of their entry.
    names: BTreeMap<String, usize>,
    /// Merges so far, by kind, for their labels (`add`, `add1`, …).
    pub merges: BTreeMap<&'static str, usize>,
}

impl Scope {
    fn root() -> Scope {
        Scope {
            env: Env::default(),
            key: String::new(),
            field: String::new(),
            depth: 0,
            root: true,
            next: 0,
            names: BTreeMap::new(),
            merges: BTreeMap::new(),
        }
    }

    /// The place of a merge (`add`, or the name given to it): named in this
    /// module, but not one of its entries (it takes no index).
    pub fn place_named(&self, local: &str) -> Place {
        Place {
            index: self.next,
            name: Some(format_ident!("{}", local)),
            key: format!("{}{local}", self.key),
            field: format!("{}{local}", self.field),
            root: false,
        }
    }

    /// The module of an entry at `place`, with parameters `env`.
    pub fn child(&self, place: &Place, env: Env) -> Scope {
        Scope {
            env,
            key: format!("{}.", place.key),
            field: format!("{}_", place.field),
            depth: self.depth.saturating_add(1),
            root: false,
            next: 0,
            names: BTreeMap::new(),
            merges: BTreeMap::new(),
        }
    }
}

/// The walk's state: what it has built and reported.
pub(super) struct Walker<'a> {
    pub blocks: BTreeMap<String, &'a BlockDecl>,
    errors: Vec<syn::Error>,
    /// The errors reported so far, to report each only once (a block used
    /// several times would repeat its own mistakes).
    seen: BTreeSet<String>,
    /// Errors found, counting repeats.
    pub found: usize,
    pub nodes: Vec<Node>,
    pub rows: Vec<Row>,
    /// Fields taken so far, with the key that took each.
    fields: BTreeMap<String, String>,
    /// The blocks being expanded, outermost first.
    pub stack: Vec<String>,
}

/// Checks one network of `inv`.
pub(super) fn network(inv: &ast::Invocation, net: &ast::Network) -> syn::Result<Graph> {
    let mut errors = Vec::new();
    let input = check_input(net, &mut errors);
    // The first declaration of each name, unless it shadows a layer or a
    // group (`block::declarations` reports both).
    let mut blocks = BTreeMap::new();
    for block in &inv.blocks {
        let name = block.ident.to_string();
        if spec::find(&name).is_none() && !GROUPS.contains(&name.as_str()) {
            blocks.entry(name).or_insert(block);
        }
    }
    let mut walker = Walker {
        blocks,
        errors: Vec::new(),
        seen: BTreeSet::new(),
        found: 0,
        nodes: Vec::new(),
        rows: Vec::new(),
        fields: BTreeMap::new(),
        stack: Vec::new(),
    };
    walker.report(errors);
    let tip = input.map(|shape| Tip {
        flow: Flow {
            shape,
            by: "given by the `input:` line".into(),
            formula: String::new(),
            channels_by: "the `input:` line".into(),
            map: None,
        },
        value: Some(Value::Input),
    });
    let body: Vec<&Entry> = net
        .body
        .iter()
        .filter(|e| !matches!(e, Entry::Input(_)))
        .collect();
    let out = walker.entries(body, &mut Scope::root(), tip);
    walker.finish(net, input, out)
}

impl Walker<'_> {
    /// Records errors, each once.
    pub fn report(&mut self, errors: impl IntoIterator<Item = syn::Error>) {
        for error in errors.into_iter().flatten() {
            self.found = self.found.saturating_add(1);
            let at = error.span().start();
            if self
                .seen
                .insert(format!("{}:{}:{error}", at.line, at.column))
            {
                self.errors.push(error);
            }
        }
    }

    pub fn error(&mut self, at: Range, msg: impl std::fmt::Display) {
        self.report([syn::Error::new_spanned(at, msg)]);
    }

    /// Walks entries in order.
    pub fn entries<'e>(
        &mut self,
        entries: impl IntoIterator<Item = &'e Entry>,
        scope: &mut Scope,
        mut tip: Option<Tip>,
    ) -> Option<Tip> {
        for entry in entries {
            tip = self.entry(entry, scope, tip);
        }
        tip
    }

    fn entry(&mut self, entry: &Entry, scope: &mut Scope, tip: Option<Tip>) -> Option<Tip> {
        match entry {
            Entry::Input(i) => {
                self.error(
                    Range::single(i.keyword.span()),
                    "an `input:` line belongs at the top of the network, not inside a group or block",
                );
                tip
            }
            Entry::Layer(layer) => self.layer(layer, scope, tip),
            Entry::Group(group) => self.group(group, scope, tip),
            Entry::If(cond) => match self.choose(cond, &scope.env) {
                Ok(Some(entries)) => self.entries(entries, scope, tip),
                Ok(None) => tip,
                Err(()) => None,
            },
        }
    }

    /// The entries an `if` stands for (`None`: nothing), or `Err` after
    /// reporting a condition that does not evaluate.
    pub fn choose<'e>(&mut self, cond: &'e If, env: &Env) -> Result<Option<&'e [Entry]>, ()> {
        match eval_bool(&cond.cond, env) {
            Ok(true) => Ok(Some(&cond.then)),
            Ok(false) => match &cond.otherwise {
                None => Ok(None),
                Some(Else::Block(entries)) => Ok(Some(entries)),
                Some(Else::If(next)) => self.choose(next, env),
            },
            Err(e) => {
                self.report([e]);
                Err(())
            }
        }
    }

    /// The place of the next entry of `scope`, named `name` or not.
    pub fn place(&mut self, scope: &mut Scope, name: Option<&Ident>) -> Place {
        let index = scope.next;
        scope.next = scope.next.saturating_add(1);
        if let Some(name) = name {
            let text = name.to_string();
            if let Some(first) = scope.names.insert(text.clone(), index) {
                self.error(
                    Range::single(name.span()),
                    format!("two layers are named `{text}`: layer {first} and layer {index}; layer names must be unique (they name the weights, `{text}.weight`)"),
                );
            }
        }
        let local = name.map_or_else(|| index.to_string(), ToString::to_string);
        let field = match (name, scope.root) {
            (None, true) => format!("layer{index}"),
            _ => format!("{}{local}", scope.field),
        };
        Place {
            index,
            name: name.cloned(),
            key: format!("{}{local}", scope.key),
            field,
            root: scope.root,
        }
    }

    /// A layer, or the use of a block.
    fn layer(&mut self, layer: &Layer, scope: &mut Scope, tip: Option<Tip>) -> Option<Tip> {
        let place = self.place(scope, layer.name.as_ref());
        let kind = layer.kind.to_string();
        if let Some(&block) = self.blocks.get(&kind) {
            return self.use_block(block, layer, &place, scope, tip);
        }
        let Some(spec) = spec::find(&kind) else {
            return self.unknown(layer, tip);
        };
        let mut errors = Vec::new();
        let flow = tip.as_ref().map(|t| &t.flow);
        let (checked, next) = check_layer(layer, spec, &place, &scope.env, flow, &mut errors);
        if let (Some(dims), Some(next)) = (&layer.assert, &next) {
            let display = checked.as_ref().map_or(kind.as_str(), |c| &c.display);
            let what = place.describe(display);
            check_assert(dims, &what, next, &scope.env, &mut errors);
        }
        let clean = errors.is_empty();
        self.report(errors);
        let flow = next?;
        let value = match (checked, tip.and_then(|t| t.value)) {
            (Some(c), Some(input)) if clean => {
                let row = Row {
                    name: place.key.clone(),
                    field: self.field(&place, layer.kind.span()),
                    display: c.display,
                    input: c.input,
                    output: c.output,
                    value: Value::Input,
                    depth: scope.depth,
                    params: c.params,
                    macs: c.macs,
                    formula: c.formula,
                    receptive: (1, 1),
                };
                Some(self.node(c.op, vec![input], row, &place.key, layer.kind.span()))
            }
            _ => None,
        };
        Some(Tip { flow, value })
    }

    /// An unknown layer kind: reported with a suggestion; a misspelt
    /// activation still passes the shape on.
    fn unknown(&mut self, layer: &Layer, tip: Option<Tip>) -> Option<Tip> {
        let kind = layer.kind.to_string();
        let mut errors = Vec::new();
        if GROUPS.contains(&kind.as_str()) {
            errors.push(syn::Error::new_spanned(
                &layer.kind,
                format!("`{kind}` takes its entries in braces: `{kind} {{ … }}`"),
            ));
            self.report(errors);
            return None;
        }
        let blocks: Vec<&str> = self.blocks.keys().map(String::as_str).collect();
        let suggestion = unknown_layer(layer, &blocks, &mut errors);
        self.report(errors);
        tip.filter(|_| suggestion.is_some_and(keeps_shape))
            .map(Tip::unknown)
    }

    /// The field for an entry at `place`, reported if another entry took it.
    pub fn field(&mut self, place: &Place, at: Span) -> Ident {
        if let Some(other) = self.fields.insert(place.field.clone(), place.key.clone()) {
            if other != place.key {
                self.error(
                    Range::single(at),
                    format!(
                        "`{}` and `{other}` would both be the field `{}` of the generated structs; rename one",
                        place.key, place.field
                    ),
                );
            }
        }
        format_ident!("{}", place.field)
    }

    /// Adds a node and its row; returns its value.
    pub fn node(
        &mut self,
        op: crate::op::Op,
        inputs: Vec<Value>,
        mut row: Row,
        key: &str,
        span: proc_macro2::Span,
    ) -> Value {
        let value = Value::Node(self.nodes.len());
        row.value = value;
        self.nodes.push(Node {
            op,
            inputs,
            shape: row.output,
            field: row.field.clone(),
            key: key.to_string(),
            row: self.rows.len(),
            post: Post::default(),
            span,
        });
        self.rows.push(row);
        value
    }

    /// A group: a module (`Sequential`) or a merge (`Residual`, `Add`,
    /// `Cat`).
    fn group(&mut self, group: &Group, scope: &mut Scope, tip: Option<Tip>) -> Option<Tip> {
        let kind = group.kind.to_string();
        let out = match (kind.as_str(), &group.body) {
            ("Sequential", GroupBody::Seq(entries)) => self.sequential(group, entries, scope, tip),
            ("Residual", GroupBody::Seq(entries)) => self.residual(group, entries, scope, tip),
            ("Add" | "Cat", GroupBody::Branches(branches)) => {
                self.branches(group, branches, scope, tip)
            }
            _ => {
                self.unknown_group(group);
                None
            }
        };
        if let (Some(dims), Some(out)) = (&group.assert, &out) {
            let mut errors = Vec::new();
            check_assert(
                dims,
                &format!("`{kind}`"),
                &out.flow,
                &scope.env,
                &mut errors,
            );
            self.report(errors);
        }
        out
    }

    fn unknown_group(&mut self, group: &Group) {
        let kind = group.kind.to_string();
        let msg = if spec::find(&kind).is_some() || self.blocks.contains_key(&kind) {
            format!("`{kind}` is a layer, not a group: write `{kind}(…)` without braces")
        } else {
            let hint = spec::suggest(&kind, GROUPS.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            format!("unknown group `{kind}`{hint}\nthe groups are Sequential {{ … }}, Residual {{ … }}, Add {{ … }} and Cat {{ … }}")
        };
        self.error(Range::single(group.kind.span()), msg);
    }

    /// `name: Sequential { … }`: a module of its own.
    fn sequential(
        &mut self,
        group: &Group,
        entries: &[Entry],
        scope: &mut Scope,
        tip: Option<Tip>,
    ) -> Option<Tip> {
        self.no_args(group);
        let place = self.place(scope, group.name.as_ref());
        let mut child = scope.child(&place, scope.env.clone());
        let module = self.open(&place, "Sequential".into(), group.kind.span(), scope, &tip);
        let out = self.entries(entries, &mut child, tip);
        self.close(module, &out);
        out
    }

    /// Reports arguments given to a group that takes none.
    pub fn no_args(&mut self, group: &Group) {
        if let Some(args) = &group.args {
            self.error(
                Range::single(args.paren_span),
                format!("`{}` takes no arguments", group.kind),
            );
        }
    }

    /// Opens a module's row (filled by `close`); returns its index and the
    /// first node inside it.
    pub fn open(
        &mut self,
        place: &Place,
        display: String,
        at: Span,
        scope: &Scope,
        tip: &Option<Tip>,
    ) -> (usize, usize) {
        let input = tip.as_ref().map_or(Shape::Flat(0), |t| t.flow.shape);
        let row = Row {
            name: place.key.clone(),
            field: self.field(place, at),
            display,
            input,
            output: input,
            value: tip.as_ref().and_then(|t| t.value).unwrap_or(Value::Input),
            depth: scope.depth,
            params: 0,
            macs: 0,
            formula: String::new(),
            receptive: (1, 1),
        };
        self.rows.push(row);
        (self.rows.len().saturating_sub(1), self.nodes.len())
    }

    /// Fills a module's row with its output and the cost of its nodes.
    pub fn close(&mut self, (row, first): (usize, usize), out: &Option<Tip>) {
        let (params, macs) = self.nodes[first..]
            .iter()
            .map(|n| (self.rows[n.row].params, self.rows[n.row].macs))
            .fold((0usize, 0usize), |(p, m), (a, b)| {
                (p.saturating_add(a), m.saturating_add(b))
            });
        let row = &mut self.rows[row];
        if let Some(out) = out {
            row.output = out.flow.shape;
            row.value = out.value.unwrap_or(row.value);
        }
        row.params = params;
        row.macs = macs;
    }

    /// The graph, or every error found.
    fn finish(
        mut self,
        net: &ast::Network,
        input: Option<Shape>,
        out: Option<Tip>,
    ) -> syn::Result<Graph> {
        let output = out.and_then(|t| t.value);
        let (Some(input), Some(output), true) = (input, output, self.errors.is_empty()) else {
            return Err(self.combined());
        };
        let totals = totals(&self.nodes, &self.rows).map_err(|what| {
            syn::Error::new_spanned(
                &net.ident,
                format!("arithmetic overflow: network `{}`'s {what}", net.ident),
            )
        })?;
        let fields = graph::receptive_fields(input, &self.nodes);
        let hw = |s: Shape| match s {
            Shape::Map { h, w, .. } => (h, w),
            Shape::Flat(n) => (n, 1),
        };
        for row in &mut self.rows {
            let field = match row.value {
                Value::Input => Receptive::PIXEL,
                Value::Node(i) => fields[i],
            };
            row.receptive = field.clip(hw(input));
        }
        Ok(Graph {
            input,
            nodes: self.nodes,
            rows: self.rows,
            output,
            totals,
        })
    }

    fn combined(self) -> syn::Error {
        self.errors
            .into_iter()
            .reduce(|mut a, b| {
                a.combine(b);
                a
            })
            .unwrap_or_else(|| {
                syn::Error::new(
                    Span::call_site(),
                    "internal error in constnet: no output and no error",
                )
            })
    }
}

/// Sums the nodes' counts, in `u128` where a sum of `usize`s cannot
/// overflow; the error says which total does not fit, and by how much.
#[allow(clippy::arithmetic_side_effects)] // u128 sums of usizes
fn totals(nodes: &[Node], rows: &[Row]) -> Result<Totals, String> {
    let sum = |f: &dyn Fn(&Node) -> u128| nodes.iter().map(f).sum::<u128>();
    let params = sum(&|n| rows[n.row].params as u128);
    let macs = sum(&|n| rows[n.row].macs as u128);
    let weight_bytes = sum(&|n| {
        n.op.param_shapes()
            .iter()
            .map(|(_, dims)| 4 * dims.iter().map(|&d| d as u128).product::<u128>())
            .sum()
    });
    let fits = |n: u128, what: &str, limit: &str, max: u128, unit: &str| {
        usize::try_from(n)
            .ok()
            .filter(|&n| n as u128 <= max)
            .ok_or_else(|| format!("{what} {n}{unit}, more than `{limit}` = {max}{unit}"))
    };
    let usize_max = usize::MAX as u128;
    Ok(Totals {
        params: fits(
            params,
            "parameter count would be",
            "usize::MAX",
            usize_max,
            "",
        )?,
        macs: fits(
            macs,
            "multiply-accumulate count would be",
            "usize::MAX",
            usize_max,
            "",
        )?,
        weight_bytes: fits(
            weight_bytes,
            "weights would take",
            "isize::MAX",
            isize::MAX.unsigned_abs() as u128,
            " bytes",
        )?,
    })
}
