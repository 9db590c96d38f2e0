//! The config parser (`PUT /api/admin/config`, `--config`): any text is refused or accepted,
//! never a panic.
#![no_main]

use cascade_core::config::CascadeConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = CascadeConfig::parse(text);
});
