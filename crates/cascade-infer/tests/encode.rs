//! The encoder's contract on the real model: shape, unit length, batching, meaning, threads.

mod common;

use std::time::Instant;

use common::{dot, encoder, max_abs_diff};

const TEXTS: [&str; 6] = [
    "Harry Potter, an orphan raised by cruel relatives, learns on his eleventh birthday that he \
     is a wizard and leaves for Hogwarts School of Witchcraft and Wizardry.",
    "A cookbook of one hundred easy family dinners: roasts, pasta bakes, curries and puddings, \
     with shopping lists and cooking times.",
    "a boy wizard goes to a school of magic",
    "ok",
    "",
    "Ein Roman über Freundschaft, Verlust und den langen Weg zurück nach Hause.",
];

#[test]
fn dimension_is_384_and_every_vector_has_it() {
    let vectors = encoder().encode(&TEXTS).unwrap();
    assert_eq!(encoder().dimension(), 384);
    assert_eq!(vectors.len(), TEXTS.len());
    assert!(vectors.iter().all(|v| v.len() == 384));
}

#[test]
fn vectors_have_unit_length() {
    for vector in encoder().encode(&TEXTS).unwrap() {
        let norm = dot(&vector, &vector).sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        assert!(vector.iter().all(|x| x.is_finite()));
    }
}

#[test]
fn a_batch_gives_the_same_vectors_as_one_text_at_a_time() {
    // The texts differ in length, so the batch pads most of them: padding must not leak.
    let batch = encoder().encode(&TEXTS).unwrap();
    for (text, batched) in TEXTS.iter().zip(&batch) {
        let alone = encoder().encode(&[text]).unwrap().remove(0);
        let diff = max_abs_diff(&alone, batched);
        assert!(
            diff < 1e-5,
            "{text:?}: batched differs from alone by {diff}"
        );
    }
}

#[test]
fn order_and_duplicates_are_kept() {
    let texts = [TEXTS[1], TEXTS[0], TEXTS[1]];
    let vectors = encoder().encode(&texts).unwrap();
    let originals = encoder().encode(&TEXTS[..2]).unwrap();
    assert!(max_abs_diff(&vectors[0], &originals[1]) < 1e-5);
    assert!(max_abs_diff(&vectors[1], &originals[0]) < 1e-5);
    assert!(max_abs_diff(&vectors[0], &vectors[2]) < 1e-6);
}

#[test]
fn similar_meanings_are_closer() {
    let [harry_potter, cookbook, query] =
        [0, 1, 2].map(|i| encoder().encode(&[TEXTS[i]]).unwrap().remove(0));
    let to_book = dot(&query, &harry_potter);
    let to_cookbook = dot(&query, &cookbook);
    assert!(
        to_book > to_cookbook + 0.2,
        "the wizard query is {to_book} from the Harry Potter blurb and {to_cookbook} from the cookbook"
    );
}

#[test]
fn texts_beyond_the_token_limit_are_truncated() {
    // Only the first 256 tokens count: whatever follows them cannot change the vector.
    let long = "the library lends books, seeds and tools to everyone in town. ".repeat(40);
    let longer = format!("{long} A completely different ending about rockets and volcanoes.");
    let vectors = encoder().encode(&[&long, &longer]).unwrap();
    assert!(max_abs_diff(&vectors[0], &vectors[1]) < 1e-6);
}

#[test]
fn no_texts_give_no_vectors() {
    assert!(encoder().encode(&[]).unwrap().is_empty());
}

#[test]
fn a_batch_larger_than_one_model_pass_keeps_every_text() {
    let texts: Vec<String> = (0..70)
        .map(|i| format!("item number {i} in the catalogue {}", "x ".repeat(i % 9)))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = encoder().encode(&refs).unwrap();
    assert_eq!(vectors.len(), 70);
    for i in [0, 33, 69] {
        let alone = encoder().encode(&[refs[i]]).unwrap().remove(0);
        assert!(max_abs_diff(&alone, &vectors[i]) < 1e-5, "text {i}");
    }
}

#[test]
fn threads_share_one_encoder() {
    let expected = encoder().encode(&TEXTS).unwrap();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| scope.spawn(move || (t, encoder().encode(&[TEXTS[t]]).unwrap().remove(0))))
            .collect();
        for handle in handles {
            let (t, vector) = handle.join().unwrap();
            assert!(max_abs_diff(&vector, &expected[t]) < 1e-5);
        }
    });
}

#[test]
fn a_batch_of_sixteen_short_sentences_encodes() {
    let texts: Vec<String> = (0..16)
        .map(|i| format!("Short sentence number {i} about books, films and music."))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    encoder().encode(&refs[..1]).unwrap(); // warm up

    let start = Instant::now();
    let one = encoder().encode(&refs[..1]).unwrap();
    let single = start.elapsed();
    let start = Instant::now();
    let sixteen = encoder().encode(&refs).unwrap();
    let batch = start.elapsed();
    // Informational: `cargo test -p cascade-infer --release -- --nocapture` shows it.
    eprintln!("encode: 1 text {single:?}, 16 texts {batch:?}");

    assert_eq!(one.len(), 1);
    assert_eq!(sixteen.len(), 16);
    assert!(max_abs_diff(&one[0], &sixteen[0]) < 1e-5);
    assert!(
        dot(&sixteen[3], &sixteen[4]) < 0.9999,
        "different texts, different vectors"
    );
}
