//! The safety net every operation passes, whatever its transport (POST, GET, WebSocket):
//! 1. before parsing, the raw text's bracket nesting and token count (async-graphql's recursive
//!    parser overflows its stack on ~1,600 nested `[`/`{`, so deep text must never reach it);
//! 2. after parsing, depth, complexity (a connection multiplies its children by `first`/`last`)
//!    and alias count. `__schema`/`__type` subtrees are exempt from depth and complexity: the
//!    introspection query GraphiQL sends is ~13 deep and bounded by the schema's size.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Name, ServerError, ServerResult, Value, Variables};

use crate::config::Limits;
use crate::db::pagination::{DEFAULT_PAGE, MAX_PAGE};
use crate::error::AppError;

fn too_complex(message: String) -> ServerError {
    AppError::QueryTooComplex(message).into_request_error()
}

/// The checks a parsed document passes before it runs: depth, complexity and aliases (measured
/// with the request's variables), and the variables the selected operation requires.
/// Checks a parsed document against the limits; its measured complexity when it passes.
pub fn check(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    limits: &Limits,
) -> ServerResult<usize> {
    let cost = measure(doc, variables);
    check_cost(&cost, limits)?;
    required_variables(doc, operation_name, variables)?;
    Ok(cost.complexity)
}

/// The raw text's guard, as a request error.
pub fn check_text(query: &str, limits: &Limits) -> ServerResult<()> {
    pre_parse(query, limits).map_err(too_complex)
}

fn check_cost(cost: &Cost, limits: &Limits) -> ServerResult<()> {
    if cost.introspection_depth > INTROSPECTION_DEPTH {
        return Err(too_complex(format!(
            "introspection depth {} exceeds the limit of {INTROSPECTION_DEPTH}",
            cost.introspection_depth
        )));
    }
    if cost.depth > limits.depth {
        return Err(too_complex(format!(
            "query depth {} exceeds the limit of {}",
            cost.depth, limits.depth
        )));
    }
    if cost.complexity > limits.complexity {
        return Err(too_complex(format!(
            "query complexity {} exceeds the limit of {} (a connection counts `first` times its fields)",
            cost.complexity, limits.complexity
        )));
    }
    if cost.aliases > limits.aliases {
        return Err(too_complex(format!(
            "{} aliases exceed the limit of {}",
            cost.aliases, limits.aliases
        )));
    }
    Ok(())
}

/// A variable of non-null type with no default that the request leaves out (or sends as
/// `null`) is a request error: the operation never starts (GraphQL spec, CoerceVariableValues).
/// async-graphql would otherwise report it from inside execution, as a field error.
fn required_variables(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> ServerResult<()> {
    let selected = doc
        .operations
        .iter()
        .find(|(name, _)| operation_name.is_none() || name.map(|n| n.as_str()) == operation_name);
    let Some((_, op)) = selected else {
        return Ok(());
    };
    for def in &op.node.variable_definitions {
        let def = &def.node;
        let given = variables
            .get(&def.name.node)
            .is_some_and(|v| *v != Value::Null);
        if !def.var_type.node.nullable && def.default_value.is_none() && !given {
            return Err(AppError::BadUserInput {
                message: format!(
                    "variable ${} of required type {} was not provided",
                    def.name.node, def.var_type.node
                ),
                field: Some(def.name.node.to_string()),
            }
            .into_request_error());
        }
    }
    Ok(())
}

/// `__schema`/`__type` subtrees have their own depth bound: GraphiQL's introspection query
/// is 13 deep, and its `ofType` chain must fit.
pub const INTROSPECTION_DEPTH: usize = 16;

/// Scans the raw document without parsing it: bracket nesting, lexical tokens and directives
/// (every `@` outside strings and comments is one; a thousand `@include` on one field would
/// otherwise each be evaluated).
/// Comments and strings are skipped exactly as the GraphQL lexer skips them (a comment ends at
/// `\n` or `\r`; in a block string only `\"""` escapes), so nothing can hide brackets from
/// this scan that the parser would then see. Where the lexer would fail (an unterminated
/// string), scanning goes on: counting more is always the safe side.
pub fn pre_parse(query: &str, limits: &Limits) -> Result<(), String> {
    let (max_nesting, max_tokens) = (limits.nesting, limits.tokens);
    let bytes = query.as_bytes();
    let (mut i, mut depth, mut tokens, mut directives) = (0usize, 0usize, 0usize, 0usize);
    let mut in_word = false;
    while i < bytes.len() {
        let b = bytes[i];
        let word_char = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.';
        if !word_char {
            in_word = false;
        }
        match b {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                tokens += 1;
                i += 3;
                loop {
                    if i >= bytes.len() {
                        break;
                    }
                    if bytes[i..].starts_with(b"\\\"\"\"") {
                        i += 4;
                    } else if bytes[i..].starts_with(b"\"\"\"") {
                        i += 3;
                        break;
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'"' => {
                tokens += 1;
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        // A line break ends the (invalid) string: resume counting right here.
                        b'\n' | b'\r' => break,
                        _ => i += 1,
                    }
                }
                continue;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                tokens += 1;
                if depth > max_nesting {
                    return Err(format!(
                        "the document nests deeper than {max_nesting} levels of brackets"
                    ));
                }
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                tokens += 1;
            }
            b'@' => {
                tokens += 1;
                directives += 1;
                if directives > limits.directives {
                    return Err(format!(
                        "the document has more than {} directives",
                        limits.directives
                    ));
                }
            }
            b':' | b'!' | b'$' | b'=' | b'|' | b'&' => tokens += 1,
            _ if word_char && !in_word => {
                tokens += 1;
                in_word = true;
            }
            _ => {}
        }
        if tokens > max_tokens {
            return Err(format!("the document has more than {max_tokens} tokens"));
        }
        i += 1;
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Outside introspection.
    pub depth: usize,
    /// Inside `__schema`/`__type`.
    pub introspection_depth: usize,
    pub complexity: usize,
    pub aliases: usize,
}

/// The largest depth and complexity over the document's operations, and all its aliases.
pub fn measure(doc: &ExecutableDocument, variables: &Variables) -> Cost {
    let mut total = Cost::default();
    for (_, op) in doc.operations.iter() {
        // Variables the request omits take their declared defaults, as at execution.
        let mut vars = variables.clone();
        for def in &op.node.variable_definitions {
            let name = &def.node.name.node;
            if !vars.contains_key(name)
                && let Some(default) = &def.node.default_value
            {
                vars.insert(name.clone(), default.node.clone());
            }
        }
        let mut walker = Walker {
            doc,
            variables: &vars,
            fragments: HashMap::new(),
            in_progress: Vec::new(),
        };
        let c = walker.selection_set(&op.node.selection_set.node);
        total.depth = total.depth.max(c.depth);
        total.introspection_depth = total.introspection_depth.max(c.introspection_depth);
        total.complexity = total.complexity.max(c.complexity);
        total.aliases = total.aliases.saturating_add(c.aliases);
    }
    total
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    /// Each fragment is measured once (a fragment used many times must not cost exponential time).
    fragments: HashMap<Name, Cost>,
    in_progress: Vec<Name>,
}

impl Walker<'_> {
    fn selection_set(&mut self, set: &SelectionSet) -> Cost {
        let mut c = Cost::default();
        for item in &set.items {
            let part = match &item.node {
                Selection::Field(f) => self.field(&f.node),
                Selection::InlineFragment(f) => self.selection_set(&f.node.selection_set.node),
                Selection::FragmentSpread(s) => self.fragment(&s.node.fragment_name.node),
            };
            c.depth = c.depth.max(part.depth);
            c.introspection_depth = c.introspection_depth.max(part.introspection_depth);
            c.complexity = c.complexity.saturating_add(part.complexity);
            c.aliases = c.aliases.saturating_add(part.aliases);
        }
        c
    }

    fn fragment(&mut self, name: &Name) -> Cost {
        if let Some(c) = self.fragments.get(name) {
            return *c;
        }
        // A cycle is a validation error; count it as nothing here.
        if self.in_progress.contains(name) {
            return Cost::default();
        }
        let Some(def) = self.doc.fragments.get(name) else {
            return Cost::default();
        };
        self.in_progress.push(name.clone());
        let c = self.selection_set(&def.node.selection_set.node);
        self.in_progress.pop();
        self.fragments.insert(name.clone(), c);
        c
    }

    fn field(&mut self, f: &Field) -> Cost {
        let aliases = usize::from(f.alias.is_some());
        let name = f.name.node.as_str();
        let children = self.selection_set(&f.selection_set.node);
        if name == "__schema" || name == "__type" {
            // Exempt from the depth limit, bounded by its own; everything else still counts.
            return Cost {
                depth: 1,
                introspection_depth: children.depth.max(children.introspection_depth) + 1,
                complexity: children.complexity.saturating_add(1),
                aliases: children.aliases.saturating_add(aliases),
            };
        }
        let multiplier = if self.is_connection(f) {
            self.page_size(f)
        } else {
            1
        };
        Cost {
            depth: children.depth + 1,
            introspection_depth: children.introspection_depth,
            complexity: children
                .complexity
                .saturating_mul(multiplier)
                .saturating_add(1),
            aliases: children.aliases.saturating_add(aliases),
        }
    }

    /// `first` or `last` (a literal or a variable), else the default page size.
    fn page_size(&self, f: &Field) -> usize {
        let arg = f.get_argument("first").or_else(|| f.get_argument("last"));
        let value = arg.and_then(|v| {
            v.node
                .clone()
                .into_const_with(|name| self.variables.get(&name).cloned().ok_or(()))
                .ok()
        });
        match value {
            Some(Value::Number(n)) => n
                .as_u64()
                .map_or(DEFAULT_PAGE, |n| (n as usize).min(MAX_PAGE)),
            _ => DEFAULT_PAGE,
        }
    }
}

impl Walker<'_> {
    /// A connection field: takes `first`/`last`, or selects connection fields (`edges`,
    /// `nodes`, `pageInfo`, `totalCount`), directly or through fragments.
    fn is_connection(&self, f: &Field) -> bool {
        f.get_argument("first").is_some()
            || f.get_argument("last").is_some()
            || self.selects_connection_fields(&f.selection_set.node, 0)
    }

    fn selects_connection_fields(&self, set: &SelectionSet, hops: usize) -> bool {
        // Fragments nest; a bounded number of hops is enough and keeps this linear.
        if hops > 8 {
            return false;
        }
        set.items.iter().any(|s| match &s.node {
            Selection::Field(c) => matches!(
                c.node.name.node.as_str(),
                "edges" | "nodes" | "pageInfo" | "totalCount"
            ),
            Selection::InlineFragment(i) => {
                self.selects_connection_fields(&i.node.selection_set.node, hops + 1)
            }
            Selection::FragmentSpread(sp) => self
                .doc
                .fragments
                .get(&sp.node.fragment_name.node)
                .is_some_and(|d| {
                    self.selects_connection_fields(&d.node.selection_set.node, hops + 1)
                }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre_parse(q: &str, nesting: usize, tokens: usize) -> Result<(), String> {
        super::pre_parse(
            q,
            &Limits {
                nesting,
                tokens,
                ..Limits::default()
            },
        )
    }

    #[test]
    fn directives_are_counted_outside_strings_and_comments() {
        let field = |n: usize| format!("{{ a{} }}", " @include(if: true)".repeat(n));
        assert!(pre_parse(&field(50), 64, 10_000).is_ok());
        let err = pre_parse(&field(51), 64, 10_000).unwrap_err();
        assert!(err.contains("50 directives"), "{err}");
        assert!(
            pre_parse(
                &format!("{{ a(x: \"{}\") }} # @@@", "@".repeat(500)),
                64,
                10_000
            )
            .is_ok()
        );
    }

    fn cost(q: &str) -> Cost {
        measure(
            &async_graphql::parser::parse_query(q).unwrap(),
            &Variables::default(),
        )
    }

    #[test]
    fn nothing_hides_brackets_from_the_scan() {
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        // A comment ends at a carriage return, as the lexer ends it.
        assert!(pre_parse(&format!("{{ a #\r(b: {deep}) }}"), 64, 10_000).is_err());
        // In a block string a backslash escapes nothing but \""".
        assert!(
            pre_parse(
                &format!("{{ a(b: \"\"\"\\\\\"\"\"#\"\"\", c: {deep}) }}"),
                64,
                10_000
            )
            .is_err()
        );
        // An unterminated string does not swallow the next line.
        assert!(pre_parse(&format!("{{ a(b: \"open\n c: {deep}) }}"), 64, 10_000).is_err());
        // Closing brackets inside strings do not lower the count.
        let sneaky: String = (0..100).map(|_| "[\"]]]]\" ").collect();
        assert!(pre_parse(&format!("{{ a(b: {sneaky}) }}"), 64, 10_000).is_err());
    }

    #[test]
    fn pre_parse_counts_brackets_outside_strings_and_comments() {
        assert!(pre_parse("{ a(x: \"[[[[[[\") }", 3, 100).is_ok());
        assert!(pre_parse("# {{{{{{\n{ a }", 3, 100).is_ok());
        assert!(
            pre_parse(
                &format!("{{ a(x: {}1{}) }}", "[".repeat(10), "]".repeat(10)),
                8,
                1000
            )
            .is_err()
        );
        assert!(pre_parse(&"{ a } ".repeat(50), 3, 100).is_err());
    }

    #[test]
    fn connections_multiply_their_children() {
        assert_eq!(cost("{ a { b c } }").complexity, 3);
        assert_eq!(
            cost("{ users(first: 10) { nodes { id } } }").complexity,
            1 + 10 * 2
        );
        // Default page size when `first` is omitted.
        assert_eq!(cost("{ users { nodes { id } } }").complexity, 1 + 20 * 2);
        assert_eq!(cost("{ a { b { c } } }").depth, 3);
        assert_eq!(
            cost("{ __schema { types { fields { type { ofType { name } } } } } }").depth,
            1
        );
        assert_eq!(cost("{ x: a y: a }").aliases, 2);
    }

    #[test]
    fn fragments_are_measured_once_even_when_spread_exponentially() {
        let mut q = String::from("{ ...F0 }\n");
        for i in 0..40 {
            q.push_str(&format!(
                "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        q.push_str("fragment F40 on Query { a }\n");
        let c = cost(&q);
        assert!(c.complexity > 1_000_000, "{c:?}");
    }
}
