//! The spec's schemas as a tree the fake server can walk: loaded once from the compact text
//! `cargo xtask codegen` generates (`generated/schemas.rs`), with every `$ref` resolved to a node.
//!
//! [`crate::validate`] checks client events and REST bodies against it; [`crate::wire`] orders
//! the keys of server frames by it.

use crate::generated::schemas::SCHEMAS;
use realtime_protocol::Dialect;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A JSON kind, as a bit of [`Node::types`].
pub(crate) mod kind {
    pub(crate) const NULL: u8 = 1;
    pub(crate) const BOOLEAN: u8 = 2;
    pub(crate) const INTEGER: u8 = 4;
    pub(crate) const NUMBER: u8 = 8;
    pub(crate) const STRING: u8 = 16;
    pub(crate) const ARRAY: u8 = 32;
    pub(crate) const OBJECT: u8 = 64;
}

/// What an object says about keys it does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extra {
    /// Not stated: closed when the object lists properties (as the service is), open when it
    /// lists none (a free-form object such as a tool's `parameters`).
    Unstated,
    Allowed,
    Forbidden,
    Schema(usize),
}

/// One schema node. Indices point into [`Spec::nodes`].
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// `$ref`: this node is the named node.
    pub(crate) reference: Option<usize>,
    /// Allowed kinds (bits of [`kind`]); 0 means any.
    pub(crate) types: u8,
    pub(crate) nullable: bool,
    pub(crate) enumeration: Option<Vec<Value>>,
    pub(crate) required: Vec<String>,
    /// Properties in the spec's order.
    pub(crate) properties: Option<Vec<(String, usize)>>,
    pub(crate) extra: Extra,
    pub(crate) items: Option<usize>,
    pub(crate) any_of: Vec<usize>,
    pub(crate) all_of: Vec<usize>,
    pub(crate) minimum: Option<f64>,
    pub(crate) maximum: Option<f64>,
    pub(crate) exclusive_minimum: Option<f64>,
    pub(crate) exclusive_maximum: Option<f64>,
    pub(crate) min_length: Option<usize>,
    pub(crate) max_length: Option<usize>,
    pub(crate) min_items: Option<usize>,
    pub(crate) max_items: Option<usize>,
}

impl Node {
    fn empty() -> Self {
        Self {
            reference: None,
            types: 0,
            nullable: false,
            enumeration: None,
            required: Vec::new(),
            properties: None,
            extra: Extra::Unstated,
            items: None,
            any_of: Vec::new(),
            all_of: Vec::new(),
            minimum: None,
            maximum: None,
            exclusive_minimum: None,
            exclusive_maximum: None,
            min_length: None,
            max_length: None,
            min_items: None,
            max_items: None,
        }
    }

    /// The node of property `name`, if listed.
    pub(crate) fn property(&self, name: &str) -> Option<usize> {
        self.properties
            .as_ref()?
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, n)| *n)
    }
}

/// Who sends an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Direction {
    Client,
    Server,
}

/// The loaded schemas.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) nodes: Vec<Node>,
    named: HashMap<String, usize>,
    events: HashMap<(Dialect, Direction), HashMap<String, usize>>,
}

impl Spec {
    /// The schemas of the vendored spec, loaded on first use. `None` only if the generated text
    /// is broken, which `spec_loads` in the tests rules out.
    pub(crate) fn get() -> Option<&'static Spec> {
        static SPEC: OnceLock<Option<Spec>> = OnceLock::new();
        SPEC.get_or_init(|| Spec::load(SCHEMAS).ok()).as_ref()
    }

    /// The node of an event type in a dialect and direction.
    pub(crate) fn event(&self, dialect: Dialect, direction: Direction, t: &str) -> Option<usize> {
        let dialect = match dialect {
            Dialect::Beta => Dialect::Beta,
            _ => Dialect::Ga,
        };
        self.events.get(&(dialect, direction))?.get(t).copied()
    }

    /// The event types of a dialect and direction, sorted.
    #[cfg(test)]
    pub(crate) fn event_types(&self, dialect: Dialect, direction: Direction) -> Vec<&str> {
        let dialect = match dialect {
            Dialect::Beta => Dialect::Beta,
            _ => Dialect::Ga,
        };
        let mut v: Vec<&str> = self
            .events
            .get(&(dialect, direction))
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// A named schema.
    pub(crate) fn named(&self, name: &str) -> Option<usize> {
        self.named.get(name).copied()
    }

    /// Follows `$ref`s to the node that says something.
    pub(crate) fn resolve(&self, mut n: usize) -> &Node {
        // References cannot loop more than the number of nodes.
        for _ in 0..self.nodes.len() {
            match self.nodes[n].reference {
                Some(r) => n = r,
                None => break,
            }
        }
        &self.nodes[n]
    }

    /// Parses the compact text.
    pub(crate) fn load(text: &str) -> Result<Spec, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let schemas = root
            .get("schemas")
            .and_then(Value::as_object)
            .ok_or("no schemas")?;
        let mut spec = Spec {
            nodes: Vec::new(),
            named: HashMap::new(),
            events: HashMap::new(),
        };
        // Every name gets its slot first, so references resolve whatever the order.
        for name in schemas.keys() {
            spec.named.insert(name.clone(), spec.nodes.len());
            spec.nodes.push(Node::empty());
        }
        for (name, schema) in schemas {
            let node = spec.parse(schema)?;
            let slot = spec.named[name];
            spec.nodes[slot] = node;
        }
        let events = root
            .get("events")
            .and_then(Value::as_object)
            .ok_or("no events")?;
        for (dialect_name, dialect) in [("ga", Dialect::Ga), ("beta", Dialect::Beta)] {
            for (dir_name, dir) in [("client", Direction::Client), ("server", Direction::Server)] {
                let map = events
                    .get(dialect_name)
                    .and_then(|d| d.get(dir_name))
                    .and_then(Value::as_object)
                    .ok_or_else(|| format!("no {dialect_name}.{dir_name} events"))?;
                let mut by_type = HashMap::new();
                for (t, schema) in map {
                    let name = schema.as_str().unwrap_or_default();
                    let n = spec
                        .named(name)
                        .ok_or_else(|| format!("event {t}: unknown schema {name}"))?;
                    by_type.insert(t.clone(), n);
                }
                spec.events.insert((dialect, dir), by_type);
            }
        }
        Ok(spec)
    }

    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn parse_child(&mut self, v: &Value) -> Result<usize, String> {
        let node = self.parse(v)?;
        Ok(self.push(node))
    }

    fn parse(&mut self, v: &Value) -> Result<Node, String> {
        let mut node = Node::empty();
        let Some(o) = v.as_object() else {
            // A boolean schema: `true` accepts anything.
            return Ok(node);
        };
        if let Some(r) = o.get("$ref").and_then(Value::as_str) {
            node.reference = Some(self.named(r).ok_or_else(|| format!("unknown $ref {r}"))?);
            return Ok(node);
        }
        let kinds = match o.get("type") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for k in kinds {
            node.types |= match k {
                "null" => kind::NULL,
                "boolean" => kind::BOOLEAN,
                "integer" => kind::INTEGER,
                "number" => kind::NUMBER,
                "string" => kind::STRING,
                "array" => kind::ARRAY,
                "object" => kind::OBJECT,
                other => return Err(format!("unknown type {other}")),
            };
        }
        node.nullable = o.get("nullable").and_then(Value::as_bool) == Some(true);
        node.enumeration = o.get("enum").and_then(Value::as_array).cloned();
        node.required = o
            .get("required")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(pairs) = o.get("properties").and_then(Value::as_array) {
            let mut props = Vec::with_capacity(pairs.len());
            for pair in pairs {
                let (Some(name), Some(schema)) = (pair.get(0).and_then(Value::as_str), pair.get(1))
                else {
                    return Err(format!("bad property pair {pair}"));
                };
                props.push((name.to_owned(), self.parse_child(schema)?));
            }
            node.properties = Some(props);
        }
        node.extra = match o.get("additionalProperties") {
            None => Extra::Unstated,
            Some(Value::Bool(true)) => Extra::Allowed,
            Some(Value::Bool(false)) => Extra::Forbidden,
            Some(schema) => Extra::Schema(self.parse_child(schema)?),
        };
        if let Some(items) = o.get("items") {
            node.items = Some(self.parse_child(items)?);
        }
        for (key, into) in [("anyOf", true), ("allOf", false)] {
            if let Some(list) = o.get(key).and_then(Value::as_array) {
                for b in list {
                    let n = self.parse_child(b)?;
                    if into {
                        node.any_of.push(n);
                    } else {
                        node.all_of.push(n);
                    }
                }
            }
        }
        let num = |k: &str| o.get(k).and_then(Value::as_f64);
        let len = |k: &str| o.get(k).and_then(Value::as_u64).map(|n| n as usize);
        node.minimum = num("minimum");
        node.maximum = num("maximum");
        node.exclusive_minimum = num("exclusiveMinimum");
        node.exclusive_maximum = num("exclusiveMaximum");
        node.min_length = len("minLength");
        node.max_length = len("maxLength");
        node.min_items = len("minItems");
        node.max_items = len("maxItems");
        Ok(node)
    }
}

/// The kind bit of a JSON value (integers count as both integer and number).
pub(crate) fn kind_of(v: &Value) -> u8 {
    match v {
        Value::Null => kind::NULL,
        Value::Bool(_) => kind::BOOLEAN,
        Value::Number(n) => {
            let integral = n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0);
            if integral {
                kind::INTEGER | kind::NUMBER
            } else {
                kind::NUMBER
            }
        }
        Value::String(_) => kind::STRING,
        Value::Array(_) => kind::ARRAY,
        Value::Object(_) => kind::OBJECT,
    }
}

/// The kinds a node (through its references and branches) admits; 0 means any.
pub(crate) fn admitted(spec: &Spec, n: usize) -> u8 {
    admitted_depth(spec, n, 0)
}

fn admitted_depth(spec: &Spec, n: usize, depth: usize) -> u8 {
    let node = spec.resolve(n);
    let mut k = node.types;
    if let Some(e) = &node.enumeration {
        k |= e.iter().fold(0, |acc, v| acc | kind_of(v));
    }
    if k == 0 && node.properties.is_some() {
        k = kind::OBJECT;
    }
    if !node.any_of.is_empty() && depth < 16 {
        let mut union = 0;
        for &b in &node.any_of {
            let bk = admitted_depth(spec, b, depth + 1);
            if bk == 0 {
                return 0;
            }
            union |= bk;
        }
        k = if k == 0 {
            union
        } else {
            k & (union | kind::NULL)
        };
    }
    // `nullable` widens whatever the rest admits (`{"nullable": true, "anyOf": [...]}` admits
    // the branches and null).
    if node.nullable {
        k |= kind::NULL;
    }
    k
}

/// The branches of an `anyOf` an object belongs to, told apart the way the service tells them:
/// by the constant `type` and then `role` properties. `Err` names the key whose value no branch
/// declares, with the values they do declare.
pub(crate) fn discriminate<'s>(
    spec: &'s Spec,
    branches: &[usize],
    value: &Value,
) -> Result<Vec<usize>, (&'static str, Vec<&'s Value>)> {
    let mut candidates: Vec<usize> = branches.to_vec();
    for key in ["type", "role"] {
        let Some(given) = value.get(key).filter(|v| v.is_string()) else {
            continue;
        };
        let declared: Vec<(usize, &Vec<Value>)> = candidates
            .iter()
            .filter_map(|&b| {
                let p = spec.resolve(b).property(key)?;
                spec.resolve(p).enumeration.as_ref().map(|e| (b, e))
            })
            .collect();
        if declared.is_empty() {
            continue;
        }
        let matching: Vec<usize> = declared
            .iter()
            .filter(|(_, e)| e.contains(given))
            .map(|(b, _)| *b)
            .collect();
        if matching.is_empty() {
            let mut values: Vec<&Value> = declared.iter().flat_map(|(_, e)| e.iter()).collect();
            values.dedup();
            return Err((key, values));
        }
        candidates = matching;
    }
    Ok(candidates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_loads_with_every_event_of_both_dialects() {
        let spec = Spec::get().expect("the generated schemas load");
        assert_eq!(spec.event_types(Dialect::Ga, Direction::Client).len(), 11);
        assert_eq!(spec.event_types(Dialect::Beta, Direction::Client).len(), 12);
        assert_eq!(spec.event_types(Dialect::Ga, Direction::Server).len(), 46);
        assert_eq!(spec.event_types(Dialect::Beta, Direction::Server).len(), 34);
        let n = spec
            .event(Dialect::Ga, Direction::Server, "response.done")
            .expect("response.done");
        let names: Vec<&str> = spec
            .resolve(n)
            .properties
            .iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(names, ["event_id", "type", "response"]);
        assert!(spec.named("RealtimeCallReferRequest").is_some());
    }
}
