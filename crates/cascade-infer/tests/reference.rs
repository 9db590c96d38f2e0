//! The encoder against an independent implementation: vectors from
//! `scripts/reference-embeddings.py` (a numpy float64 forward pass of the same model), kept in
//! `tests/fixtures/reference-embeddings.json`.

mod common;

use common::{dot, encoder, max_abs_diff};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    max_tokens: usize,
    dimension: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    tokens: usize,
    embedding: Vec<f32>,
}

/// The cosine similarity of two vectors of any length.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
}

fn fixture() -> Fixture {
    let json = include_str!("fixtures/reference-embeddings.json");
    serde_json::from_str(json).expect("the reference fixture parses")
}

/// Within float32 rounding of the float64 reference.
fn assert_close(case: &Case, actual: &[f32]) {
    assert_eq!(
        actual.len(),
        case.embedding.len(),
        "dimension for {:?}",
        case.text
    );
    let cos = cosine(actual, &case.embedding);
    let diff = max_abs_diff(actual, &case.embedding);
    assert!(
        cos >= 0.9999 && diff <= 1e-5,
        "{:?}: cosine {cos}, max abs diff {diff} against the reference",
        case.text
    );
}

#[test]
fn the_fixture_covers_truncation_and_non_ascii_text() {
    let fixture = fixture();
    assert_eq!(fixture.max_tokens, cascade_infer::MAX_TOKENS);
    assert_eq!(fixture.dimension, encoder().dimension());
    assert!(
        fixture
            .cases
            .iter()
            .any(|c| c.tokens == fixture.max_tokens && c.text.len() > 1000)
    );
    assert!(fixture.cases.iter().any(|c| !c.text.is_ascii()));
}

#[test]
fn each_text_alone_matches_the_reference() {
    for case in &fixture().cases {
        let actual = encoder().encode(&[&case.text]).unwrap();
        assert_eq!(actual.len(), 1);
        assert_close(case, &actual[0]);
    }
}

#[test]
fn all_texts_in_one_batch_match_the_reference() {
    let fixture = fixture();
    let texts: Vec<&str> = fixture.cases.iter().map(|c| c.text.as_str()).collect();
    let actual = encoder().encode(&texts).unwrap();
    assert_eq!(actual.len(), fixture.cases.len());
    for (case, vector) in fixture.cases.iter().zip(&actual) {
        assert_close(case, vector);
    }
}
