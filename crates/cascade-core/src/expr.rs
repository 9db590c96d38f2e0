//! A small expression language for config: rank scores such as `${ctr} * 0.7 + ${cvr}` and
//! conditions such as `language_code == 'eng' && original_publication_year >= 2000`.
//!
//! Grammar, loosest first: `||`, `&&`, comparisons (`== != < <= > >=`), `+ -`, `* /`,
//! unary `! -`, then numbers, `'strings'` or `"strings"`, `true`, `false`, variables (`name`
//! or `${name}`) and parentheses. A variable that has no value is null: arithmetic with null
//! is null and every comparison with null is false.

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Number(f64),
    /// A string.
    Text(String),
    /// A boolean.
    Bool(bool),
    /// No value.
    Null,
}

impl Value {
    /// The value as a number, when it is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// Whether the value counts as true: `true`, or a non-zero number.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr(Node);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Literal(Value),
    Var(String),
    Not(Box<Node>),
    Neg(Box<Node>),
    Binary(Box<Node>, Op, Box<Node>),
}

impl Expr {
    /// Parses an expression; the error says where it stopped making sense.
    pub fn parse(text: &str) -> Result<Expr, String> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            at: 0,
        };
        let node = parser.or()?;
        parser.skip_space();
        if parser.at < parser.chars.len() {
            return Err(parser.error("unexpected text"));
        }
        Ok(Expr(node))
    }

    /// Evaluates with `lookup` giving variables' values.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Value) -> Value {
        self.0.eval(lookup)
    }

    /// The names of the variables the expression reads.
    pub fn variables(&self) -> Vec<&str> {
        let mut names = Vec::new();
        self.0.collect_variables(&mut names);
        names
    }
}

impl Node {
    fn eval(&self, lookup: &dyn Fn(&str) -> Value) -> Value {
        match self {
            Node::Literal(value) => value.clone(),
            Node::Var(name) => lookup(name),
            Node::Not(inner) => Value::Bool(!inner.eval(lookup).is_true()),
            Node::Neg(inner) => match inner.eval(lookup) {
                Value::Number(n) => Value::Number(-n),
                _ => Value::Null,
            },
            Node::Binary(left, Op::And, right) => {
                Value::Bool(left.eval(lookup).is_true() && right.eval(lookup).is_true())
            }
            Node::Binary(left, Op::Or, right) => {
                Value::Bool(left.eval(lookup).is_true() || right.eval(lookup).is_true())
            }
            Node::Binary(left, op, right) => binary(*op, left.eval(lookup), right.eval(lookup)),
        }
    }

    fn collect_variables<'a>(&'a self, names: &mut Vec<&'a str>) {
        match self {
            Node::Var(name) if !names.contains(&name.as_str()) => names.push(name),
            Node::Not(inner) | Node::Neg(inner) => inner.collect_variables(names),
            Node::Binary(left, _, right) => {
                left.collect_variables(names);
                right.collect_variables(names);
            }
            _ => {}
        }
    }
}

fn binary(op: Op, left: Value, right: Value) -> Value {
    use Value::{Bool, Null, Number, Text};
    match (op, left, right) {
        (Op::Add, Number(a), Number(b)) => Number(a + b),
        (Op::Sub, Number(a), Number(b)) => Number(a - b),
        (Op::Mul, Number(a), Number(b)) => Number(a * b),
        (Op::Div, Number(a), Number(b)) if b != 0.0 => Number(a / b),
        (Op::Add | Op::Sub | Op::Mul | Op::Div, _, _) => Null,
        (_, Null, _) | (_, _, Null) => Bool(false),
        (Op::Eq, a, b) => Bool(a == b),
        (Op::Ne, a, b) => Bool(a != b),
        (op, Number(a), Number(b)) => Bool(compare(op, a.partial_cmp(&b))),
        (op, Text(a), Text(b)) => Bool(compare(op, Some(a.cmp(&b)))),
        _ => Bool(false),
    }
}

fn compare(op: Op, ordering: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    matches!(
        (op, ordering),
        (Op::Lt, Some(Less))
            | (Op::Le, Some(Less | Equal))
            | (Op::Gt, Some(Greater))
            | (Op::Ge, Some(Greater | Equal))
    )
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn error(&self, what: &str) -> String {
        format!("{what} at character {}", self.at + 1)
    }

    fn skip_space(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    /// Consumes `token` if it comes next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        let matches = token
            .chars()
            .enumerate()
            .all(|(i, c)| self.chars.get(self.at + i) == Some(&c));
        if matches {
            self.at += token.chars().count();
        }
        matches
    }

    fn binary_level(
        &mut self,
        ops: &[(&str, Op)],
        next: fn(&mut Self) -> Result<Node, String>,
    ) -> Result<Node, String> {
        let mut left = next(self)?;
        'outer: loop {
            for (token, op) in ops {
                if self.eat(token) {
                    let right = next(self)?;
                    left = Node::Binary(Box::new(left), *op, Box::new(right));
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn or(&mut self) -> Result<Node, String> {
        self.binary_level(&[("||", Op::Or)], Self::and)
    }

    fn and(&mut self) -> Result<Node, String> {
        self.binary_level(&[("&&", Op::And)], Self::comparison)
    }

    fn comparison(&mut self) -> Result<Node, String> {
        let ops = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        let left = self.additive()?;
        for (token, op) in ops {
            if self.eat(token) {
                let right = self.additive()?;
                return Ok(Node::Binary(Box::new(left), op, Box::new(right)));
            }
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Node, String> {
        self.binary_level(&[("+", Op::Add), ("-", Op::Sub)], Self::multiplicative)
    }

    fn multiplicative(&mut self) -> Result<Node, String> {
        self.binary_level(&[("*", Op::Mul), ("/", Op::Div)], Self::unary)
    }

    fn unary(&mut self) -> Result<Node, String> {
        if self.eat("!") {
            return Ok(Node::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return Ok(Node::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, String> {
        self.skip_space();
        if self.eat("(") {
            let inner = self.or()?;
            if !self.eat(")") {
                return Err(self.error("expected `)`"));
            }
            return Ok(inner);
        }
        if self.eat("${") {
            let name = self.identifier();
            if name.is_empty() || !self.eat("}") {
                return Err(self.error("expected `${name}`"));
            }
            return Ok(Node::Var(name));
        }
        match self.chars.get(self.at).copied() {
            Some(quote @ ('\'' | '"')) => self.string(quote),
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            Some(c) if c.is_alphabetic() || c == '_' => Ok(match self.identifier().as_str() {
                "true" => Node::Literal(Value::Bool(true)),
                "false" => Node::Literal(Value::Bool(false)),
                name => Node::Var(name.to_string()),
            }),
            _ => Err(self.error("expected a value")),
        }
    }

    fn identifier(&mut self) -> String {
        let start = self.at;
        while self
            .chars
            .get(self.at)
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '.'))
        {
            self.at += 1;
        }
        self.chars[start..self.at].iter().collect()
    }

    fn number(&mut self) -> Result<Node, String> {
        let start = self.at;
        while self
            .chars
            .get(self.at)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E'))
        {
            self.at += 1;
        }
        let text: String = self.chars[start..self.at].iter().collect();
        text.parse()
            .map(|n| Node::Literal(Value::Number(n)))
            .map_err(|_| self.error(&format!("`{text}` is not a number")))
    }

    fn string(&mut self, quote: char) -> Result<Node, String> {
        self.at += 1;
        let start = self.at;
        while self.chars.get(self.at).is_some_and(|&c| c != quote) {
            self.at += 1;
        }
        if self.at >= self.chars.len() {
            return Err(self.error("unterminated string"));
        }
        let text: String = self.chars[start..self.at].iter().collect();
        self.at += 1;
        Ok(Node::Literal(Value::Text(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str) -> Value {
        let lookup = |name: &str| match name {
            "ctr" => Value::Number(0.5),
            "cvr" => Value::Number(0.25),
            "lang" => Value::Text("eng".into()),
            _ => Value::Null,
        };
        Expr::parse(text).unwrap().eval(&lookup)
    }

    #[test]
    fn rank_scores() {
        assert_eq!(
            eval("${ctr} * 0.7 + ${cvr}"),
            Value::Number(0.5 * 0.7 + 0.25)
        );
        assert_eq!(eval("(ctr + cvr) * 2"), Value::Number(1.5));
        assert_eq!(eval("-ctr / 2"), Value::Number(-0.25));
        assert_eq!(eval("missing * 2"), Value::Null);
        assert_eq!(eval("1 / 0"), Value::Null);
    }

    #[test]
    fn conditions() {
        assert!(eval("lang == 'eng' && ctr >= 0.5").is_true());
        assert!(!eval("lang != \"eng\" || ctr < 0.1").is_true());
        assert!(
            eval("!(missing > 1)").is_true(),
            "comparisons with null are false"
        );
        assert!(!eval("missing == missing").is_true());
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(
            Expr::parse("1 +").unwrap_err(),
            "expected a value at character 4"
        );
        assert!(Expr::parse("(1").unwrap_err().contains("`)`"));
        assert!(Expr::parse("'open").unwrap_err().contains("unterminated"));
        assert!(Expr::parse("1 2").unwrap_err().contains("unexpected"));
        assert_eq!(Expr::parse("a + ${b} * a").unwrap().variables(), ["a", "b"]);
    }
}
