//! Checks a client event (or a REST body) against the spec like the service does, and says what
//! is wrong the way the service says it: a `code`, a dotted `param` (`item.content[0].type`) and
//! the service's wording.
//!
//! One deliberate leniency: an optional field may be `null` even where the spec does not say it
//! is nullable, because the service accepts it (and the official SDKs send it).

use crate::schema::{admitted, discriminate, kind, kind_of, Direction, Extra, Spec};
use realtime_protocol::Dialect;
use serde_json::Value;

/// Why the service would refuse a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    /// `unknown_parameter`, `missing_required_parameter`, `invalid_type`, `invalid_value`,
    /// `decimal_above_max_value`, `string_above_max_length`…
    pub(crate) code: &'static str,
    /// The dotted path of the field (`""` for the whole value).
    pub(crate) param: String,
    /// The service's message.
    pub(crate) message: String,
}

/// Checks a client event of a known type. `None`: the event is valid (or its type is unknown,
/// which the caller answers separately).
pub(crate) fn client_event(dialect: Dialect, event: &Value) -> Option<Violation> {
    let spec = Spec::get()?;
    let t = event.get("type")?.as_str()?;
    let node = spec.event(dialect, Direction::Client, t)?;
    let mut path = Path::default();
    Checker { spec }.check(node, event, &mut path).err()
}

/// Checks a value against a named schema (a REST body).
pub(crate) fn named(schema: &str, value: &Value) -> Option<Violation> {
    let spec = Spec::get()?;
    let node = spec.named(schema)?;
    let mut path = Path::default();
    Checker { spec }.check(node, value, &mut path).err()
}

/// A dotted path being walked.
#[derive(Debug, Default, Clone)]
struct Path(String);

impl Path {
    fn key(&self, k: &str) -> Path {
        if self.0.is_empty() {
            Path(k.to_owned())
        } else {
            Path(format!("{}.{k}", self.0))
        }
    }

    fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }

    fn depth(p: &str) -> usize {
        p.matches(['.', '[']).count() + usize::from(!p.is_empty())
    }
}

struct Checker<'s> {
    spec: &'s Spec,
}

fn describe_kind(k: u8) -> &'static str {
    match k {
        kind::NULL => "null",
        kind::BOOLEAN => "a boolean",
        kind::INTEGER => "an integer",
        kind::NUMBER => "a number",
        kind::STRING => "a string",
        kind::ARRAY => "an array",
        kind::OBJECT => "an object",
        _ => "a value",
    }
}

/// What a value is, for "but got … instead".
fn got(v: &Value) -> &'static str {
    match v {
        Value::Number(_) if kind_of(v) & kind::INTEGER != 0 => "an integer",
        Value::Number(_) => "a decimal",
        _ => describe_kind(kind_of(v)),
    }
}

fn expected(k: u8) -> String {
    let mut parts = Vec::new();
    for bit in [
        kind::STRING,
        kind::INTEGER,
        kind::NUMBER,
        kind::BOOLEAN,
        kind::ARRAY,
        kind::OBJECT,
    ] {
        if k & bit != 0 {
            // An integer is also a number: say "a number" once.
            if bit == kind::INTEGER && k & kind::NUMBER != 0 {
                continue;
            }
            parts.push(describe_kind(bit));
        }
    }
    match parts.len() {
        0 => "a value".to_owned(),
        1 => parts[0].to_owned(),
        _ => format!("one of {}", parts.join(" or ")),
    }
}

fn quoted(values: &[&Value]) -> String {
    let q: Vec<String> = values
        .iter()
        .map(|v| match v {
            Value::String(s) => format!("'{s}'"),
            other => other.to_string(),
        })
        .collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        2 => format!("{} and {}", q[0], q[1]),
        n => format!("{}, and {}", q[..n - 1].join(", "), q[n - 1]),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

impl Checker<'_> {
    fn check(&self, n: usize, v: &Value, path: &mut Path) -> Result<(), Violation> {
        let node = self.spec.resolve(n);
        let admits = admitted(self.spec, n);
        let vk = kind_of(v);
        if admits != 0 && admits & vk == 0 {
            let what = match &node.enumeration {
                Some(e) if node.any_of.is_empty() && admits & !kind::NULL == kind::STRING => {
                    let list: Vec<String> = e
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|s| format!("'{s}'"))
                        .collect();
                    format!("one of {}", list.join(","))
                }
                _ => expected(admits & !kind::NULL),
            };
            return Err(Violation {
                code: "invalid_type",
                param: path.0.clone(),
                message: format!(
                    "Invalid type for '{}': expected {what}, but got {} instead.",
                    path.0,
                    got(v)
                ),
            });
        }
        if v.is_null() {
            return Ok(());
        }
        if let Some(e) = &node.enumeration {
            if !e.contains(v) {
                let all: Vec<&Value> = e.iter().collect();
                return Err(Violation {
                    code: "invalid_value",
                    param: path.0.clone(),
                    message: format!(
                        "Invalid value: '{}'. Supported values are: {}.",
                        show(v),
                        quoted(&all)
                    ),
                });
            }
        }
        self.bounds(node, v, path)?;
        for &b in &node.all_of {
            self.check(b, v, path)?;
        }
        if !node.any_of.is_empty() {
            return self.any_of(&node.any_of, v, path);
        }
        match v {
            Value::Array(items) => {
                if let Some(it) = node.items {
                    for (i, x) in items.iter().enumerate() {
                        self.check(it, x, &mut path.index(i))?;
                    }
                }
                Ok(())
            }
            Value::Object(map) => self.object(n, map, path),
            _ => Ok(()),
        }
    }

    fn bounds(&self, node: &crate::schema::Node, v: &Value, path: &Path) -> Result<(), Violation> {
        let p = &path.0;
        let fail = |code: &'static str, message: String| {
            Err(Violation {
                code,
                param: p.clone(),
                message,
            })
        };
        match v {
            Value::Number(num) => {
                let f = num.as_f64().unwrap_or_default();
                let word = if node.types & kind::INTEGER != 0 && node.types & kind::NUMBER == 0 {
                    "integer"
                } else {
                    "decimal"
                };
                let above = node.maximum.filter(|m| f > *m).map(|m| (m, "<="));
                let above = above.or(node.exclusive_maximum.filter(|m| f >= *m).map(|m| (m, "<")));
                if let Some((m, op)) = above {
                    return fail(
                        if word == "integer" { "integer_above_max_value" } else { "decimal_above_max_value" },
                        format!("Invalid '{p}': {word} above maximum value. Expected a value {op} {}, but got {} instead.", number(m), show(v)),
                    );
                }
                let below = node.minimum.filter(|m| f < *m).map(|m| (m, ">="));
                let below = below.or(node.exclusive_minimum.filter(|m| f <= *m).map(|m| (m, ">")));
                if let Some((m, op)) = below {
                    return fail(
                        if word == "integer" { "integer_below_min_value" } else { "decimal_below_min_value" },
                        format!("Invalid '{p}': {word} below minimum value. Expected a value {op} {}, but got {} instead.", number(m), show(v)),
                    );
                }
            }
            Value::String(s) => {
                let len = s.chars().count();
                if let Some(max) = node.max_length.filter(|m| len > *m) {
                    return fail(
                        "string_above_max_length",
                        format!("Invalid '{p}': string too long. Expected a string with maximum length {max}, but got a string with length {len} instead."),
                    );
                }
                if let Some(min) = node.min_length.filter(|m| len < *m) {
                    return fail(
                        "string_below_min_length",
                        format!("Invalid '{p}': string too short. Expected a string with minimum length {min}, but got a string with length {len} instead."),
                    );
                }
            }
            Value::Array(a) => {
                if let Some(max) = node.max_items.filter(|m| a.len() > *m) {
                    return fail(
                        "array_above_max_length",
                        format!("Invalid '{p}': array too long. Expected an array with maximum length {max}, but got an array with length {} instead.", a.len()),
                    );
                }
                if let Some(min) = node.min_items.filter(|m| a.len() < *m) {
                    let code = if a.is_empty() {
                        "empty_array"
                    } else {
                        "array_below_min_length"
                    };
                    return fail(
                        code,
                        format!("Invalid '{p}': array too short. Expected an array with minimum length {min}, but got an array with length {} instead.", a.len()),
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn object(
        &self,
        n: usize,
        map: &serde_json::Map<String, Value>,
        path: &Path,
    ) -> Result<(), Violation> {
        let node = self.spec.resolve(n);
        let Some(props) = &node.properties else {
            if let Extra::Schema(s) = node.extra {
                for (k, x) in map {
                    self.check(s, x, &mut path.key(k))?;
                }
            }
            return Ok(());
        };
        for (k, x) in map {
            if node.property(k).is_some() {
                continue;
            }
            match node.extra {
                Extra::Allowed => {}
                Extra::Schema(s) => self.check(s, x, &mut path.key(k))?,
                Extra::Unstated | Extra::Forbidden => {
                    let p = path.key(k).0;
                    return Err(Violation {
                        code: "unknown_parameter",
                        message: format!("Unknown parameter: '{p}'."),
                        param: p,
                    });
                }
            }
        }
        for r in &node.required {
            if !map.contains_key(r) {
                let p = path.key(r).0;
                return Err(Violation {
                    code: "missing_required_parameter",
                    message: format!("Missing required parameter: '{p}'."),
                    param: p,
                });
            }
        }
        for (k, pn) in props {
            let Some(x) = map.get(k) else { continue };
            // The service takes `null` for an optional field as "not set".
            if x.is_null() && !node.required.contains(k) {
                continue;
            }
            self.check(*pn, x, &mut path.key(k))?;
        }
        Ok(())
    }

    fn any_of(&self, branches: &[usize], v: &Value, path: &Path) -> Result<(), Violation> {
        let vk = kind_of(v);
        let by_kind: Vec<usize> = branches
            .iter()
            .copied()
            .filter(|&b| {
                let k = admitted(self.spec, b);
                k == 0 || k & vk != 0
            })
            .collect();
        let candidates = if v.is_object() {
            match discriminate(self.spec, &by_kind, v) {
                Ok(c) => c,
                Err((key, values)) => {
                    let given = v.get(key).map(show).unwrap_or_default();
                    let p = path.key(key).0;
                    return Err(Violation {
                        code: "invalid_value",
                        message: format!(
                            "Invalid value: '{given}'. Supported values are: {}.",
                            quoted(&values)
                        ),
                        param: p,
                    });
                }
            }
        } else {
            by_kind
        };
        let mut best: Option<Violation> = None;
        for b in candidates {
            match self.check(b, v, &mut path.clone()) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let deeper = best
                        .as_ref()
                        .is_none_or(|x| Path::depth(&e.param) > Path::depth(&x.param));
                    if deeper {
                        best = Some(e);
                    }
                }
            }
        }
        Err(best.unwrap_or_else(|| Violation {
            code: "invalid_type",
            param: path.0.clone(),
            message: format!(
                "Invalid type for '{}': expected {}, but got {} instead.",
                path.0,
                expected(admitted_union(self.spec, branches)),
                got(v)
            ),
        }))
    }
}

fn admitted_union(spec: &Spec, branches: &[usize]) -> u8 {
    branches.iter().fold(0, |acc, &b| acc | admitted(spec, b)) & !kind::NULL
}
