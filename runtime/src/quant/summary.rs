//! The int8 network's layer table: the float network's rows, each with the
//! scale and zero point of its output as the int8 network quantizes it,
//! and the range of the per-channel weight scales of the layers that have
//! weights.

use core::fmt;

use super::network::{Int8Network, Stored};
use crate::network::{LayerInfo, Network};

/// [`Int8Network::summary`]: print it with `{}`.
pub struct Int8Summary<'a, N: Int8Network> {
    pub(super) net: &'a N,
}

/// The smallest and largest of the weight scales stored as
/// `<key>.weight_scale`, if the network stores them.
fn weight_scales<N: Int8Network>(net: &N, key: &str) -> Option<(f32, f32)> {
    let mut range = None;
    net.visit_stored(&mut |name, _, stored| {
        if let (Some(k), Stored::F32(s)) = (name.strip_suffix(".weight_scale"), stored) {
            if k == key {
                range = s.iter().fold(None, |r: Option<(f32, f32)>, &v| {
                    Some(r.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
                });
            }
        }
    });
    range
}

impl<N: Int8Network> fmt::Display for Int8Summary<'_, N> {
    /// One row per layer of the float network: name (indented by nesting),
    /// kind, output shape, then the output's scale and zero point (`-` for
    /// a row whose value the int8 network does not hold, such as a block's
    /// header) and the weight scales' range.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layers: &[LayerInfo] = <N::Float as Network>::LAYERS;
        let indent = |l: &LayerInfo| l.depth.saturating_mul(2);
        let name_w = layers
            .iter()
            .map(|l| l.name.len().saturating_add(indent(l)))
            .fold(5, usize::max);
        let kind_w = layers
            .iter()
            .map(|l| l.kind.chars().count())
            .fold(4, usize::max);
        writeln!(
            f,
            "{:<name_w$}  {:<kind_w$}  {:>11}  {:>5}  weight scales",
            "layer", "kind", "scale", "zero"
        )?;
        let input = self.net.input_params();
        writeln!(
            f,
            "{:<name_w$}  {:<kind_w$}  {:>11.5e}  {:>5}",
            "input", "", input.scale, input.zero_point
        )?;
        let values = self.net.values();
        for (r, l) in layers.iter().enumerate() {
            let (pad, rest) = (indent(l), name_w.saturating_sub(indent(l)));
            write!(f, "{:pad$}{:<rest$}  {:<kind_w$}", "", l.name, l.kind)?;
            match N::ROW_VALUES
                .get(r)
                .copied()
                .flatten()
                .and_then(|v| values.get(v))
            {
                Some(p) => write!(f, "  {:>11.5e}  {:>5}", p.scale, p.zero_point)?,
                None => write!(f, "  {:>11}  {:>5}", "-", "-")?,
            }
            let key = N::ROW_KEYS.get(r).copied().unwrap_or("");
            match weight_scales(self.net, key).filter(|_| !key.is_empty()) {
                Some((lo, hi)) => writeln!(f, "  {lo:.5e} … {hi:.5e}")?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }
}
