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

/// A feature value coded for the splits ([`SplitCodes::code`]): its rank among the sorted
/// thresholds of its feature in the low bits, and whether it is NaN and whether it counts as
/// zero in these two bits.
const CODE_NAN: u32 = 1 << 31;
const CODE_ZERO: u32 = 1 << 30;
const CODE_RANK: u32 = CODE_ZERO - 1;

/// Every threshold the trees compare each feature with, sorted and distinct, so that a value
/// is compared with the thresholds once per row (a binary search for its rank) instead of at
/// every node: `value <= threshold[i]` exactly when fewer than `i + 1` thresholds are below
/// `value`, i.e. when its rank is at most `i`.
#[derive(Debug, Clone, PartialEq)]
struct SplitCodes {
    thresholds: Vec<Vec<f64>>,
}

impl SplitCodes {
    /// The position of `threshold` among feature `feature`'s thresholds (it must be one).
    fn bin(&self, feature: usize, threshold: f64) -> u32 {
        let sorted = &self.thresholds[feature];
        sorted.partition_point(|&t| t < threshold) as u32
    }

    /// `value` of feature `feature` as the nodes compare it. A NaN ranks as 0 does, which is
    /// what every split that does not treat NaN as missing compares (LightGBM's
    /// `NumericalDecision`).
    #[inline]
    fn code(&self, feature: usize, value: f64) -> u32 {
        let nan = value.is_nan();
        let value = if nan { 0.0 } else { value };
        let rank = self.thresholds[feature].partition_point(|&t| t < value) as u32;
        let zero = value.abs() <= ZERO_THRESHOLD;
        rank | (u32::from(nan) * CODE_NAN) | (u32::from(zero) * CODE_ZERO)
    }
}

/// One node. Leaves are nodes too, pointing at themselves, so that a walk can take the same
/// number of steps in every lane without asking whether it has arrived.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    /// The split's threshold as a rank ([`SplitCodes::bin`]).
    bin: u32,
    feature: u32,
    /// The code bits that make a value missing for this split: [`CODE_NAN`] for NaN-as-missing,
    /// [`CODE_ZERO`] for zero-as-missing, none otherwise.
    missing: u32,
    default_left: bool,
    /// `[right, left]`, indices into the tree's nodes.
    children: [u32; 2],
}

impl Node {
    /// Whether a value of code `code` goes left: a missing value the default way, any other
    /// `value <= threshold`, without branches.
    #[inline(always)]
    fn goes_left(&self, code: u32) -> bool {
        let missing = code & self.missing != 0;
        (missing & self.default_left) | (!missing & ((code & CODE_RANK) <= self.bin))
    }
}

/// Rows walked through one tree together, so that their walks overlap in the CPU.
const LANES: usize = 8;

/// One regression tree: its internal nodes, then one self-looping node per leaf.
#[derive(Debug, Clone, PartialEq)]
struct Tree {
    nodes: Vec<Node>,
    /// Index of the first leaf node; leaf node `first_leaf + i` has value `leaves[i]`.
    first_leaf: u32,
    leaves: Vec<f64>,
}

impl Tree {
    /// Adds this tree's value for each of [`LANES`] rows of codes (`width` per row) to
    /// `scores`.
    #[inline]
    fn add_leaves(&self, codes: &[u32], width: usize, scores: &mut [f64; LANES]) {
        let mut at = [0u32; LANES];
        if self.first_leaf > 0 {
            loop {
                let mut walking = false;
                for (lane, at) in at.iter_mut().enumerate() {
                    let node = &self.nodes[*at as usize];
                    let code = codes[lane * width + node.feature as usize];
                    *at = node.children[usize::from(node.goes_left(code))];
                    walking |= *at < self.first_leaf;
                }
                if !walking {
                    break;
                }
            }
        }
        for (score, &node) in scores.iter_mut().zip(&at) {
            *score += self.leaves[(node - self.first_leaf) as usize];
        }
    }
}

/// The trees of a LightGBM model with one output (regression or ranking objectives).
#[derive(Debug, Clone, PartialEq)]
pub struct Forest {
    trees: Vec<Tree>,
    codes: SplitCodes,
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
        let parsed = blocks
            .iter()
            .enumerate()
            .map(|(i, block)| {
                parse_tree(block, features).map_err(|e| bad(format!("tree {i}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let codes = SplitCodes::of(&parsed, features);
        let trees = parsed.iter().map(|tree| tree.coded(&codes)).collect();
        Ok(Self {
            trees,
            codes,
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
    /// per row): each value coded for the splits once, then a block of [`LANES`] rows at a
    /// time through every tree in order (the sum LightGBM takes, in its order).
    pub fn predict(&self, values: &[f64]) -> Vec<f64> {
        let width = self.features.max(1);
        let rows = values.len() / width;
        let blocks = rows.div_ceil(LANES);
        // Rows past the last are zero codes: walked like any row, their scores dropped.
        let mut codes = vec![0u32; blocks * LANES * width];
        for (coded, row) in codes.chunks_mut(width).zip(values.chunks_exact(width)) {
            for (feature, (code, &value)) in coded.iter_mut().zip(row).enumerate() {
                *code = self.codes.code(feature, value);
            }
        }
        let mut scores = Vec::with_capacity(blocks * LANES);
        for block in codes.chunks_exact(LANES * width) {
            let mut sums = [0.0; LANES];
            for tree in &self.trees {
                tree.add_leaves(block, width, &mut sums);
            }
            scores.extend_from_slice(&sums);
        }
        scores.truncate(rows);
        scores
    }
}

/// One split as the model file states it.
struct Split {
    threshold: f64,
    feature: u32,
    default_left: bool,
    missing: i8,
    /// `[right, left]`: `>= 0` an internal node, `< 0` the leaf `!child`.
    children: [i32; 2],
}

/// One tree as the model file states it.
struct ParsedTree {
    splits: Vec<Split>,
    leaves: Vec<f64>,
}

impl ParsedTree {
    /// The tree with its thresholds as ranks of `codes` and its leaves appended as nodes.
    fn coded(&self, codes: &SplitCodes) -> Tree {
        let first_leaf = self.splits.len() as u32;
        let node = |child: i32| {
            if child >= 0 {
                child as u32
            } else {
                first_leaf + !child as u32
            }
        };
        let splits = self.splits.iter().map(|split| Node {
            bin: codes.bin(split.feature as usize, split.threshold),
            feature: split.feature,
            missing: match split.missing {
                MISSING_NAN => CODE_NAN,
                MISSING_ZERO => CODE_ZERO,
                _ => 0,
            },
            default_left: split.default_left,
            children: split.children.map(node),
        });
        let leaves = (first_leaf..).take(self.leaves.len()).map(|at| Node {
            bin: 0,
            feature: 0,
            missing: 0,
            default_left: false,
            children: [at, at],
        });
        Tree {
            nodes: splits.chain(leaves).collect(),
            first_leaf,
            leaves: self.leaves.clone(),
        }
    }
}

impl SplitCodes {
    /// The thresholds of every split of `trees`, by feature.
    fn of(trees: &[ParsedTree], features: usize) -> Self {
        let mut thresholds = vec![Vec::new(); features];
        for split in trees.iter().flat_map(|tree| &tree.splits) {
            thresholds[split.feature as usize].push(split.threshold);
        }
        for sorted in &mut thresholds {
            sorted.sort_by(f64::total_cmp);
            sorted.dedup();
        }
        Self { thresholds }
    }
}

fn parse_tree(block: &[(&str, &str)], features: usize) -> Result<ParsedTree, String> {
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
        return Ok(ParsedTree {
            splits: Vec::new(),
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
    let mut splits = Vec::with_capacity(internal);
    for i in 0..internal {
        if decision[i] & CATEGORICAL_MASK != 0 {
            return Err("categorical splits are not supported".into());
        }
        if split_feature[i] as usize >= features || !in_range(left[i]) || !in_range(right[i]) {
            return Err(format!("node {i} points outside the tree"));
        }
        if threshold[i].is_nan() {
            return Err(format!("node {i} has a NaN threshold"));
        }
        splits.push(Split {
            threshold: threshold[i],
            feature: split_feature[i],
            default_left: decision[i] & DEFAULT_LEFT_MASK != 0,
            missing: (decision[i] >> 2) & 3,
            children: [right[i], left[i]],
        });
    }
    check_is_a_tree(&splits, leaves_count)?;
    Ok(ParsedTree { splits, leaves })
}

/// Refuses splits that do not form one tree from node 0, each node and leaf reached exactly
/// once (a walk of anything else could loop forever or miss leaves).
fn check_is_a_tree(splits: &[Split], leaves: usize) -> Result<(), String> {
    let mut seen_nodes = vec![false; splits.len()];
    let mut seen_leaves = vec![false; leaves];
    let mut pending = vec![0i32];
    while let Some(child) = pending.pop() {
        let seen = if child >= 0 {
            &mut seen_nodes[child as usize]
        } else {
            &mut seen_leaves[!child as usize]
        };
        if std::mem::replace(seen, true) {
            return Err(match child {
                0.. => format!("node {child} is reached twice: not a tree"),
                _ => format!("leaf {} is reached twice: not a tree", !child),
            });
        }
        if child >= 0 {
            pending.extend(splits[child as usize].children);
        }
    }
    if seen_nodes.iter().chain(&seen_leaves).all(|&seen| seen) {
        Ok(())
    } else {
        Err("some nodes are not reached from the root".into())
    }
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
        let cycle = MODEL.replace("right_child=1 -3", "right_child=0 -3");
        let error = Forest::parse(&cycle).unwrap_err().to_string();
        assert!(error.contains("node 0 is reached twice"), "{error}");
        let shared_leaf = MODEL.replace("left_child=-1 -2", "left_child=-1 -1");
        let error = Forest::parse(&shared_leaf).unwrap_err().to_string();
        assert!(error.contains("leaf 0 is reached twice"), "{error}");
    }
}
