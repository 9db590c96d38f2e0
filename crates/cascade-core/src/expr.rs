//! A small expression language for config: rank scores such as `${ctr} * 0.7 + ${cvr}` and
//! conditions such as `language_code == 'eng' && original_publication_year >= 2000`.
//!
//! Grammar, loosest first: `||`, `&&`, comparisons (`== != < <= > >=`), `+ -`, `* /`,
//! unary `! -`, then numbers, `'strings'` or `"strings"`, `true`, `false`, variables (`name`
//! or `${name}`) and parentheses. A variable that has no value is null: arithmetic with null
//! is null and every comparison with null is false.
//!
//! Expressions come from untrusted requests (search filters) and configs, so their size is
//! bounded: at most [`MAX_EXPR_CHARS`] characters, [`MAX_EXPR_NODES`] terms and operators, and
//! [`MAX_EXPR_NESTING`] levels of parentheses and unary operators. Chains of one operator
//! (`a || b || …`, `1 + 2 - …`) are one node holding a list, so neither parsing, evaluation nor
//! dropping an expression recurses deeper than its nesting, whatever its length.

/// The longest expression accepted, in characters.
pub const MAX_EXPR_CHARS: usize = 16 * 1024;

/// The most nodes (values, variables and operators) an expression may have.
pub const MAX_EXPR_NODES: usize = 2_000;

/// The deepest nesting of parentheses and unary operators (`!`, `-`) accepted.
pub const MAX_EXPR_NESTING: usize = 32;

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
    /// A comparison of two values.
    Compare(Box<Node>, Op, Box<Node>),
    /// `a && b && …`: true when every operand is, evaluated left to right until one is not.
    All(Vec<Node>),
    /// `a || b || …`: true when any operand is, evaluated left to right until one is.
    Any(Vec<Node>),
    /// `a + b - c …` or `a * b / c …`: the first operand combined with each next one in turn.
    Arithmetic(Box<Node>, Vec<(Op, Node)>),
}

impl Expr {
    /// Parses an expression; the error says where it stopped making sense.
    pub fn parse(text: &str) -> Result<Expr, String> {
        let chars: Vec<char> = text.chars().collect();
        if chars.len() > MAX_EXPR_CHARS {
            return Err(format!(
                "expression is {} characters long; at most {MAX_EXPR_CHARS} are accepted",
                chars.len()
            ));
        }
        let mut parser = Parser {
            chars,
            at: 0,
            nesting: 0,
            nodes: 0,
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
            Node::All(operands) => Value::Bool(operands.iter().all(|o| o.eval(lookup).is_true())),
            Node::Any(operands) => Value::Bool(operands.iter().any(|o| o.eval(lookup).is_true())),
            Node::Compare(left, op, right) => binary(*op, left.eval(lookup), right.eval(lookup)),
            Node::Arithmetic(first, rest) => {
                rest.iter().fold(first.eval(lookup), |acc, (op, next)| {
                    binary(*op, acc, next.eval(lookup))
                })
            }
        }
    }

    fn collect_variables<'a>(&'a self, names: &mut Vec<&'a str>) {
        match self {
            Node::Var(name) if !names.contains(&name.as_str()) => names.push(name),
            Node::Not(inner) | Node::Neg(inner) => inner.collect_variables(names),
            Node::Compare(left, _, right) => {
                left.collect_variables(names);
                right.collect_variables(names);
            }
            Node::All(operands) | Node::Any(operands) => {
                operands.iter().for_each(|o| o.collect_variables(names));
            }
            Node::Arithmetic(first, rest) => {
                first.collect_variables(names);
                rest.iter().for_each(|(_, o)| o.collect_variables(names));
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
    /// Parentheses and unary operators open around the current position.
    nesting: usize,
    /// Nodes made so far.
    nodes: usize,
}

impl Parser {
    /// Counts one more node, refusing an expression past [`MAX_EXPR_NODES`].
    fn node(&mut self, node: Node) -> Result<Node, String> {
        self.nodes += 1;
        if self.nodes > MAX_EXPR_NODES {
            return Err(self.error(&format!(
                "expression has more than {MAX_EXPR_NODES} values and operators"
            )));
        }
        Ok(node)
    }

    /// Parses `inner` one nesting level deeper, refusing past [`MAX_EXPR_NESTING`].
    fn nested(&mut self, inner: fn(&mut Self) -> Result<Node, String>) -> Result<Node, String> {
        if self.nesting == MAX_EXPR_NESTING {
            return Err(self.error(&format!(
                "expression is nested deeper than {MAX_EXPR_NESTING} levels"
            )));
        }
        self.nesting += 1;
        let node = inner(self);
        self.nesting -= 1;
        node
    }

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

    /// A chain of operands joined by the operators of one precedence level, with the operator
    /// before each operand after the first; a single operand when no operator follows it.
    fn chain(
        &mut self,
        ops: &[(&str, Op)],
        next: fn(&mut Self) -> Result<Node, String>,
    ) -> Result<(Node, Vec<(Op, Node)>), String> {
        let first = next(self)?;
        let mut rest = Vec::new();
        'outer: loop {
            for (token, op) in ops {
                if self.eat(token) {
                    rest.push((*op, next(self)?));
                    continue 'outer;
                }
            }
            return Ok((first, rest));
        }
    }

    fn logical(
        &mut self,
        token: &str,
        op: Op,
        next: fn(&mut Self) -> Result<Node, String>,
        join: fn(Vec<Node>) -> Node,
    ) -> Result<Node, String> {
        let (first, rest) = self.chain(&[(token, op)], next)?;
        if rest.is_empty() {
            return Ok(first);
        }
        self.nodes += rest.len() - 1;
        let operands = std::iter::once(first).chain(rest.into_iter().map(|(_, o)| o));
        self.node(join(operands.collect()))
    }

    fn arithmetic(
        &mut self,
        ops: &[(&str, Op)],
        next: fn(&mut Self) -> Result<Node, String>,
    ) -> Result<Node, String> {
        let (first, rest) = self.chain(ops, next)?;
        if rest.is_empty() {
            return Ok(first);
        }
        self.nodes += rest.len() - 1;
        self.node(Node::Arithmetic(Box::new(first), rest))
    }

    fn or(&mut self) -> Result<Node, String> {
        self.logical("||", Op::Or, Self::and, Node::Any)
    }

    fn and(&mut self) -> Result<Node, String> {
        self.logical("&&", Op::And, Self::comparison, Node::All)
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
                return self.node(Node::Compare(Box::new(left), op, Box::new(right)));
            }
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Node, String> {
        self.arithmetic(&[("+", Op::Add), ("-", Op::Sub)], Self::multiplicative)
    }

    fn multiplicative(&mut self) -> Result<Node, String> {
        self.arithmetic(&[("*", Op::Mul), ("/", Op::Div)], Self::unary)
    }

    fn unary(&mut self) -> Result<Node, String> {
        if self.eat("!") {
            let inner = self.nested(Self::unary)?;
            return self.node(Node::Not(Box::new(inner)));
        }
        if self.eat("-") {
            let inner = self.nested(Self::unary)?;
            return self.node(Node::Neg(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, String> {
        self.skip_space();
        if self.eat("(") {
            let inner = self.nested(Self::or)?;
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
            return self.node(Node::Var(name));
        }
        let value = match self.chars.get(self.at).copied() {
            Some(quote @ ('\'' | '"')) => self.string(quote)?,
            Some(c) if c.is_ascii_digit() || c == '.' => self.number()?,
            Some(c) if c.is_alphabetic() || c == '_' => match self.identifier().as_str() {
                "true" => Node::Literal(Value::Bool(true)),
                "false" => Node::Literal(Value::Bool(false)),
                name => Node::Var(name.to_string()),
            },
            _ => return Err(self.error("expected a value")),
        };
        self.node(value)
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

    #[test]
    fn chains_keep_left_to_right_order_and_short_circuit_semantics() {
        assert_eq!(eval("10 - 4 - 3"), Value::Number(3.0));
        assert_eq!(eval("8 / 4 / 2"), Value::Number(1.0));
        assert_eq!(eval("1 + 2 * 3 - 4 / 2"), Value::Number(5.0));
        assert_eq!(eval("missing + 1 + 2"), Value::Null);
        assert!(eval("ctr > 1 || cvr > 1 || lang == 'eng'").is_true());
        assert!(!eval("ctr > 0 && cvr > 0 && lang == 'fra'").is_true());
        assert_eq!(
            Expr::parse("a || b && c").unwrap().variables(),
            ["a", "b", "c"]
        );
    }

    /// Parses, evaluates and drops `text` on a thread with a small stack: an expression that
    /// recursed per character or per term would overflow it (and abort the whole process).
    fn on_a_small_stack(text: String) -> Result<Value, String> {
        std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || {
                let expr = Expr::parse(&text)?;
                Ok(expr.eval(&|_| Value::Number(1.0)))
            })
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn hostile_expressions_are_refused_before_they_exhaust_the_stack() {
        let nested = format!("{}1{}", "(".repeat(2_000), ")".repeat(2_000));
        assert!(
            on_a_small_stack(nested)
                .unwrap_err()
                .contains("nested deeper")
        );
        let nots = format!("{}x", "!".repeat(1_000));
        assert!(
            on_a_small_stack(nots)
                .unwrap_err()
                .contains("nested deeper")
        );
        let flat = vec!["1"; 50_000].join("+");
        assert!(
            on_a_small_stack(flat)
                .unwrap_err()
                .contains("characters long")
        );
        let terms = vec!["x"; 1_500].join("+");
        assert!(on_a_small_stack(terms).unwrap_err().contains("more than"));
        let leaves = vec!["a > 1"; 65_536].join(" || ");
        assert!(on_a_small_stack(leaves).is_err());
    }

    #[test]
    fn the_largest_accepted_expressions_evaluate_without_deep_recursion() {
        let depth = MAX_EXPR_NESTING;
        let nested = format!("{}x{}", "(".repeat(depth), ")".repeat(depth));
        assert_eq!(on_a_small_stack(nested), Ok(Value::Number(1.0)));
        let sum = vec!["x"; MAX_EXPR_NODES / 2].join(" + ");
        assert_eq!(
            on_a_small_stack(sum),
            Ok(Value::Number((MAX_EXPR_NODES / 2) as f64))
        );
        let any = vec!["x > 2"; MAX_EXPR_NODES / 4].join(" || ");
        assert_eq!(on_a_small_stack(any), Ok(Value::Bool(false)));
    }
}
