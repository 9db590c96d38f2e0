//! Binary-classification metrics of predicted probabilities, computed by linfa.

use linfa::prelude::{BinaryClassification, Pr};

/// linfa's probability type of each prediction, clamped into `[0, 1]` (NaN counts as 0.5).
fn probabilities(predicted: &[f64]) -> Vec<Pr> {
    predicted
        .iter()
        .map(|&p| Pr::new(if p.is_nan() { 0.5 } else { p.clamp(0.0, 1.0) } as f32))
        .collect()
}

/// The area under the ROC curve of `predicted` probabilities against `labels`: the chance
/// that a random positive is scored above a random negative. `None` unless both classes occur
/// and the lengths match.
pub fn auc(predicted: &[f64], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|&&l| l).count();
    if predicted.len() != labels.len() || positives == 0 || positives == labels.len() {
        return None;
    }
    let roc = probabilities(predicted).as_slice().roc(labels).ok()?;
    Some(f64::from(roc.area_under_curve()))
}

/// The mean log-loss (binary cross-entropy) of `predicted` probabilities against `labels`;
/// `None` when there are no rows or the lengths differ.
pub fn log_loss(predicted: &[f64], labels: &[bool]) -> Option<f64> {
    if predicted.len() != labels.len() || labels.is_empty() {
        return None;
    }
    let loss = probabilities(predicted).as_slice().log_loss(labels).ok()?;
    Some(f64::from(loss))
}
