//! JSON schemas for tool parameters: derived with schemars, then normalized to the shape
//! OpenAI's function calling expects.

use schemars::JsonSchema;
use serde_json::{Map, Value};

/// Formats the API accepts; schemars' numeric ones (`uint32`, `double`…) are dropped.
const SUPPORTED_FORMATS: &[&str] = &[
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

/// The normalized parameters schema of `T`.
///
/// `type: object` at the root, every property in `required` (optional ones made nullable),
/// `additionalProperties: false` on every object, no `$schema`, `title` or unsupported `format`,
/// `oneOf` turned into `anyOf`, definitions inlined; a recursive type keeps its definition in
/// `$defs` and refers to it with `$ref`, which stays valid.
pub fn parameters_schema<T: JsonSchema>() -> Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    normalize(schema.to_value())
}

/// Normalizes any JSON schema as [`parameters_schema`] does.
pub fn normalize(mut root: Value) -> Value {
    let defs: Map<String, Value> = root
        .as_object_mut()
        .and_then(|o| o.remove("$defs").or_else(|| o.remove("definitions")))
        .and_then(|d| match d {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    let mut kept = Map::new();
    let mut stack = Vec::new();
    let mut out = inline(root, &defs, &mut stack, &mut kept);
    strictify(&mut out);
    if let Some(o) = out.as_object_mut() {
        if o.get("type").is_none() && o.get("properties").is_none() && o.get("anyOf").is_none() {
            o.insert("type".into(), Value::from("object"));
            o.insert("properties".into(), Value::Object(Map::new()));
        }
        // A root that is not an object (e.g. `()` or a bare enum) is wrapped: the API wants
        // an object of named parameters.
        if o.get("type").and_then(Value::as_str) == Some("null") {
            *o = Map::new();
            o.insert("type".into(), Value::from("object"));
            o.insert("properties".into(), Value::Object(Map::new()));
            o.insert("required".into(), Value::Array(Vec::new()));
            o.insert("additionalProperties".into(), Value::Bool(false));
        }
        if !kept.is_empty() {
            let mut kept_defs = Map::new();
            for (k, mut v) in kept {
                strictify(&mut v);
                kept_defs.insert(k, v);
            }
            o.insert("$defs".into(), Value::Object(kept_defs));
        }
    }
    out
}

fn ref_name(r: &str) -> Option<&str> {
    r.strip_prefix("#/$defs/")
        .or_else(|| r.strip_prefix("#/definitions/"))
}

/// Replaces `$ref`s by their definitions, except a reference back into a definition being
/// inlined (recursion), which stays a `$ref` to a kept definition.
fn inline(
    v: Value,
    defs: &Map<String, Value>,
    stack: &mut Vec<String>,
    kept: &mut Map<String, Value>,
) -> Value {
    match v {
        Value::Object(mut o) => {
            if let Some(Value::String(r)) = o.get("$ref").cloned() {
                if let Some(name) = ref_name(&r) {
                    if stack.iter().any(|s| s == name) {
                        if !kept.contains_key(name) {
                            kept.insert(name.to_owned(), Value::Null);
                            let def = defs.get(name).cloned().unwrap_or(Value::Bool(true));
                            let mut inner_stack = vec![name.to_owned()];
                            let resolved = inline(def, defs, &mut inner_stack, kept);
                            kept.insert(name.to_owned(), resolved);
                        }
                        o.insert("$ref".into(), Value::from(format!("#/$defs/{name}")));
                        return Value::Object(o);
                    }
                    if let Some(def) = defs.get(name) {
                        stack.push(name.to_owned());
                        let resolved = inline(def.clone(), defs, stack, kept);
                        stack.pop();
                        o.remove("$ref");
                        let mut merged = match resolved {
                            Value::Object(m) => m,
                            other => return other,
                        };
                        // Sibling keywords (e.g. a field's description) win over the definition's.
                        for (k, v) in o {
                            merged.insert(k, inline(v, defs, stack, kept));
                        }
                        return Value::Object(merged);
                    }
                }
            }
            Value::Object(
                o.into_iter()
                    .map(|(k, v)| (k, inline(v, defs, stack, kept)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(
            a.into_iter()
                .map(|v| inline(v, defs, stack, kept))
                .collect(),
        ),
        other => other,
    }
}

fn make_nullable(v: &mut Value) {
    let Some(o) = v.as_object_mut() else { return };
    match o.get_mut("type") {
        Some(Value::String(t)) if t != "null" => {
            let t = std::mem::take(t);
            o.insert(
                "type".into(),
                Value::Array(vec![Value::from(t), Value::from("null")]),
            );
            if let Some(Value::Array(e)) = o.get_mut("enum") {
                if !e.contains(&Value::Null) {
                    e.push(Value::Null);
                }
            }
        }
        Some(Value::Array(ts)) => {
            if !ts.iter().any(|t| t == "null") {
                ts.push(Value::from("null"));
            }
        }
        Some(_) => {}
        None => {
            if let Some(Value::Array(any)) = o.get_mut("anyOf") {
                if !any
                    .iter()
                    .any(|b| b.get("type").and_then(Value::as_str) == Some("null"))
                {
                    any.push(serde_json::json!({"type": "null"}));
                }
            } else {
                let inner = std::mem::take(o);
                let description = inner.get("description").cloned();
                o.insert(
                    "anyOf".into(),
                    serde_json::json!([Value::Object(inner), {"type": "null"}]),
                );
                if let Some(d) = description {
                    o.insert("description".into(), d);
                }
            }
        }
    }
}

fn strictify(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.remove("$schema");
            o.remove("title");
            o.remove("default");
            o.remove("examples");
            if let Some(Value::String(f)) = o.get("format") {
                if !SUPPORTED_FORMATS.contains(&f.as_str()) {
                    o.remove("format");
                }
            }
            if let Some(one) = o.remove("oneOf") {
                o.insert("anyOf".into(), one);
            }
            let is_object = o.get("type").and_then(Value::as_str) == Some("object")
                || o.contains_key("properties");
            if is_object {
                let required: Vec<String> = o
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| {
                        r.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(Value::Object(props)) = o.get_mut("properties") {
                    for (name, p) in props.iter_mut() {
                        if !required.contains(name) {
                            make_nullable(p);
                        }
                    }
                    // Sorted, so the schema does not depend on serde_json's map order.
                    let mut all: Vec<String> = props.keys().cloned().collect();
                    all.sort();
                    let all: Vec<Value> = all.into_iter().map(Value::from).collect();
                    o.insert("required".into(), Value::Array(all));
                } else if !matches!(o.get("additionalProperties"), Some(Value::Object(_))) {
                    o.insert("properties".into(), Value::Object(Map::new()));
                    o.insert("required".into(), Value::Array(Vec::new()));
                }
                if !o.contains_key("type") {
                    o.insert("type".into(), Value::from("object"));
                }
                // A map (`additionalProperties` with a schema) stays a map.
                if !matches!(o.get("additionalProperties"), Some(Value::Object(_))) {
                    o.insert("additionalProperties".into(), Value::Bool(false));
                }
            }
            for (_, child) in o.iter_mut() {
                strictify(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strictify),
        _ => {}
    }
}
