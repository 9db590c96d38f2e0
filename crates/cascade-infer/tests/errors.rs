//! Loading errors say what is missing and how to install it.

use std::fs;
use std::path::Path;

use cascade_infer::{EncoderError, TextEncoder, default_model_dir};

fn load_error(dir: &Path) -> EncoderError {
    TextEncoder::load(dir).expect_err("loading should fail")
}

#[test]
fn a_missing_directory_names_the_file_and_the_install_script() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("no-such-model");
    let err = load_error(&dir);
    assert!(
        matches!(&err, EncoderError::MissingModelFile { path } if path == &dir.join("config.json"))
    );
    let message = err.to_string();
    assert!(
        message.contains(&dir.join("config.json").display().to_string()),
        "{message}"
    );
    assert!(message.contains("scripts/install-model.sh"), "{message}");
}

#[test]
fn an_incomplete_directory_names_the_first_missing_file() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("config.json"), "{}").unwrap();
    fs::write(tmp.path().join("tokenizer.json"), "{}").unwrap();
    let err = load_error(tmp.path());
    let message = err.to_string();
    assert!(message.contains("model.safetensors"), "{message}");
    assert!(message.contains("scripts/install-model.sh"), "{message}");
}

#[test]
fn corrupt_weights_are_an_error_naming_the_weights_file() {
    let model = default_model_dir();
    assert!(
        model.join("tokenizer.json").is_file(),
        "this test needs the model in {}: run scripts/install-model.sh",
        model.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    for name in ["config.json", "tokenizer.json"] {
        fs::copy(model.join(name), tmp.path().join(name)).unwrap();
    }
    fs::write(tmp.path().join("model.safetensors"), b"not safetensors").unwrap();
    let err = load_error(tmp.path());
    assert!(matches!(err, EncoderError::Weights { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn a_config_that_is_not_bert_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["config.json", "tokenizer.json", "model.safetensors"] {
        fs::write(tmp.path().join(name), "{}").unwrap();
    }
    let err = load_error(tmp.path());
    assert!(matches!(err, EncoderError::Config { .. }), "{err}");
    assert!(err.to_string().contains("config.json"), "{err}");
}
