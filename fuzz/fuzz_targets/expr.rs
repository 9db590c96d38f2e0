//! The expression language (search filters, conditions, rank scores): parsing any text and
//! evaluating what parses must neither panic nor overflow the stack.
#![no_main]

use cascade_core::expr::{Expr, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(expr) = Expr::parse(text) {
        let lookup = |name: &str| match name.len() % 3 {
            0 => Value::Number(name.len() as f64),
            1 => Value::Text(name.to_string()),
            _ => Value::Null,
        };
        let _ = expr.eval(&lookup);
        let _ = expr.variables();
    }
});
