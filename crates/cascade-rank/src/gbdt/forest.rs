//! A LightGBM model evaluated in Rust: the trees of LightGBM's text model format, walked the
//! way LightGBM's own `Tree::Predict` walks them (numerical splits, missing values by the
//! split's missing type), so scoring needs no foreign call and the model can be shared across
//! threads.

use super::GbdtError;

/// LightGBM's `kZeroThreshold`: values this close to 0 count as zero for zero-as-missing splits.
const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;
/// `decision_type` bit: the split is categorical.
const CATEGORICAL_MASK: i8 = 1;
/// `decision_type` bit: missing values go left.
const DEFAULT_LEFT_MASK: i8 = 2;
/// Missing types, `(decision_type >> 2) & 3`.
const MISSING_ZERO: i8 = 1;
const MISSING_NAN: i8 = 2;

/// One internal node.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    threshold: f64,
    feature: u32,
    /// `[right, left]`: `>= 0` an internal node, `< 0` the leaf `!child`.
    children: [i32; 2],
    default_left: bool,
    missing: i8,
}

impl Node {
    /// Whether `value` goes left: LightGBM's `NumericalDecision`, without branches (a NaN
    /// counts as 0 unless the split has NaN as its missing type; a missing value goes the
    /// default way).
    #[inline(always)]
    fn goes_left(&self, value: f64) -> bool {
        let nan = value.is_nan();
        let value = if nan & (self.missing != MISSING_NAN) {
            0.0
        } else {
            value
        };
        let missing = ((self.missing == MISSING_ZERO) & (value.abs() <= ZERO_THRESHOLD))
            | ((self.missing == MISSING_NAN) & nan);
        (missing & self.default_left) | (!missing & (value <= self.threshold))
    }
}

/// Rows walked through one tree together, so that their walks overlap in the CPU.
const LANES: usize = 8;

/// One regression tree.
#[derive(Debug, Clone, PartialEq)]
struct Tree {
    nodes: Vec<Node>,
    leaves: Vec<f64>,
}

impl Tree {
    /// Adds this tree's value for each row of `rows` (`width` values per row, at most
    /// [`LANES`] rows) to `scores`.
    #[inline]
    fn add_leaves(&self, rows: &[f64], width: usize, scores: &mut [f64]) {
        if self.nodes.is_empty() {
            scores.iter_mut().for_each(|score| *score += self.leaves[0]);
            return;
        }
        let count = scores.len();
        let mut at = [0i32; LANES];
        loop {
            let mut walking = false;
            for lane in 0..count {
                let node = at[lane];
                if node >= 0 {
                    let split = &self.nodes[node as usize];
                    let value = rows[lane * width + split.feature as usize];
                    at[lane] = split.children[usize::from(split.goes_left(value))];
                    walking = true;
                }
            }
            if !walking {
                break;
            }
        }
        for (score, &leaf) in scores.iter_mut().zip(&at) {
            *score += self.leaves[!leaf as usize];
        }
    }
}

/// The trees of a LightGBM model with one output (regression or ranking objectives).
#[derive(Debug, Clone, PartialEq)]
pub struct Forest {
    trees: Vec<Tree>,
    features: usize,
    feature_names: Vec<String>,
    objective: String,
}

impl Forest {
    /// Parses LightGBM's text model format (`Booster::save_string`).
    pub fn parse(model: &str) -> Result<Self, GbdtError> {
        let bad = |reason: String| GbdtError::Model(reason);
        let mut header = Vec::new();
        let mut blocks: Vec<Vec<(&str, &str)>> = Vec::new();
        let mut ended = false;
        for line in model.lines().map(str::trim) {
            if line == "end of trees" {
                ended = true;
                break;
            }
            if line.starts_with("Tree=") {
                blocks.push(Vec::new());
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match blocks.last_mut() {
                Some(block) => block.push((key, value)),
                None => header.push((key, value)),
            }
        }
        if !ended {
            return Err(bad(
                "no `end of trees` line: not a LightGBM text model".into()
            ));
        }
        let get = |key: &str| header.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let number = |key: &str| -> Result<usize, GbdtError> {
            get(key)
                .ok_or_else(|| bad(format!("the header has no `{key}`")))?
                .parse()
                .map_err(|_| bad(format!("`{key}` is not a number")))
        };
        if number("num_class")? != 1 || number("num_tree_per_iteration")? != 1 {
            return Err(bad(
                "only single-output models (regression, ranking) are supported".into(),
            ));
        }
        if header.iter().any(|(k, _)| *k == "average_output") {
            return Err(bad(
                "random-forest (average_output) models are not supported".into(),
            ));
        }
        let features = number("max_feature_idx")? + 1;
        let feature_names: Vec<String> = get("feature_names")
            .unwrap_or_default()
            .split(' ')
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect();
        if feature_names.len() != features {
            return Err(bad(format!(
                "{} feature names for {features} features",
                feature_names.len()
            )));
        }
        let objective = get("objective").unwrap_or_default().to_string();
        let trees = blocks
            .iter()
            .enumerate()
            .map(|(i, block)| {
                parse_tree(block, features).map_err(|e| bad(format!("tree {i}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            trees,
            features,
            feature_names,
            objective,
        })
    }

    /// How many trees the model has.
    pub fn trees(&self) -> usize {
        self.trees.len()
    }

    /// How many features a row must have.
    pub fn features(&self) -> usize {
        self.features
    }

    /// The feature names LightGBM recorded.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The objective LightGBM recorded (its first word, e.g. `lambdarank`).
    pub fn objective(&self) -> &str {
        self.objective.split(' ').next().unwrap_or_default()
    }

    /// The raw score (the sum of the trees) of each row of `values` (row-major, `features`
    /// per row), over the batch a block of rows at a time, tree by tree.
    pub fn predict(&self, values: &[f64]) -> Vec<f64> {
        let width = self.features.max(1);
        let rows = values.len() / width;
        let mut scores = vec![0.0; rows];
        for (block, out) in values[..rows * width]
            .chunks(LANES * width)
            .zip(scores.chunks_mut(LANES))
        {
            for tree in &self.trees {
                tree.add_leaves(block, width, out);
            }
        }
        scores
    }
}

fn parse_tree(block: &[(&str, &str)], features: usize) -> Result<Tree, String> {
    let get = |key: &str| {
        block
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("no `{key}`"))
    };
    fn list<T: std::str::FromStr>(text: &str, key: &str) -> Result<Vec<T>, String> {
        text.split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| format!("bad value `{s}` in `{key}`")))
            .collect()
    }
    let leaves_count: usize = get("num_leaves")?.parse().map_err(|_| "bad num_leaves")?;
    if get("num_cat")? != "0" {
        return Err("categorical splits are not supported".into());
    }
    if block.iter().any(|(k, v)| *k == "is_linear" && *v != "0") {
        return Err("linear trees are not supported".into());
    }
    let leaves: Vec<f64> = list(get("leaf_value")?, "leaf_value")?;
    if leaves.len() != leaves_count || leaves_count == 0 {
        return Err(format!(
            "{} leaf values for {leaves_count} leaves",
            leaves.len()
        ));
    }
    if leaves_count == 1 {
        return Ok(Tree {
            nodes: Vec::new(),
            leaves,
        });
    }
    let split_feature: Vec<u32> = list(get("split_feature")?, "split_feature")?;
    let threshold: Vec<f64> = list(get("threshold")?, "threshold")?;
    let decision: Vec<i8> = list(get("decision_type")?, "decision_type")?;
    let left: Vec<i32> = list(get("left_child")?, "left_child")?;
    let right: Vec<i32> = list(get("right_child")?, "right_child")?;
    let internal = leaves_count - 1;
    if [
        split_feature.len(),
        threshold.len(),
        decision.len(),
        left.len(),
        right.len(),
    ]
    .iter()
    .any(|&n| n != internal)
    {
        return Err(format!("split arrays are not {internal} long"));
    }
    let in_range = |child: i32| {
        if child >= 0 {
            (child as usize) < internal
        } else {
            (!child as usize) < leaves_count
        }
    };
    let mut nodes = Vec::with_capacity(internal);
    for i in 0..internal {
        if decision[i] & CATEGORICAL_MASK != 0 {
            return Err("categorical splits are not supported".into());
        }
        if split_feature[i] as usize >= features || !in_range(left[i]) || !in_range(right[i]) {
            return Err(format!("node {i} points outside the tree"));
        }
        nodes.push(Node {
            threshold: threshold[i],
            feature: split_feature[i],
            children: [right[i], left[i]],
            default_left: decision[i] & DEFAULT_LEFT_MASK != 0,
            missing: (decision[i] >> 2) & 3,
        });
    }
    Ok(Tree { nodes, leaves })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two trees over features a, b: tree 0 splits a <= 0.5 (NaN left), then b <= 1 (zero as
    /// missing, right); tree 1 is one leaf.
    const MODEL: &str = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\n\
        label_index=0\nmax_feature_idx=1\nobjective=lambdarank\nfeature_names=a b\n\n\
        Tree=0\nnum_leaves=3\nnum_cat=0\nsplit_feature=0 1\nthreshold=0.5 1\n\
        decision_type=10 4\nleft_child=-1 -2\nright_child=1 -3\nleaf_value=1 2 3\nshrinkage=1\n\n\
        Tree=1\nnum_leaves=1\nnum_cat=0\nleaf_value=0.25\nshrinkage=1\n\n\nend of trees\n";

    #[test]
    fn walks_splits_with_missing_values_like_lightgbm() {
        let forest = Forest::parse(MODEL).unwrap();
        assert_eq!((forest.trees(), forest.features()), (2, 2));
        assert_eq!(forest.feature_names(), ["a", "b"]);
        assert_eq!(forest.objective(), "lambdarank");
        let rows = [
            0.0,
            0.0, // a <= 0.5: leaf 0
            f64::NAN,
            5.0, // a missing (NaN type, default left): leaf 0
            1.0,
            0.5, // b <= 1: leaf 1
            1.0,
            0.0, // b zero, zero-as-missing, default right: leaf 2
            1.0,
            f64::NAN, // b NaN on a zero-type split counts as 0: leaf 2
            1.0,
            7.0, // b > 1: leaf 2
        ];
        assert_eq!(forest.predict(&rows), [1.25, 1.25, 2.25, 3.25, 3.25, 3.25]);
    }

    #[test]
    fn refuses_what_it_cannot_evaluate() {
        assert!(Forest::parse("tree\nnum_class=1\n").is_err());
        let categorical = MODEL.replace("decision_type=10 4", "decision_type=11 4");
        assert!(Forest::parse(&categorical).is_err());
        let outside = MODEL.replace("right_child=1 -3", "right_child=1 -4");
        assert!(Forest::parse(&outside).is_err());
        let multiclass = MODEL.replace("num_class=1", "num_class=3");
        assert!(Forest::parse(&multiclass).is_err());
    }
}
