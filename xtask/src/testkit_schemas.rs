//! `cargo xtask codegen`, second output: the schemas `realtime-testkit` validates client events
//! and REST bodies with, and orders its frames by, as one compact JSON text in
//! `realtime-testkit/src/generated/schemas.rs`.
//!
//! Only what validation and key order need is kept: `type`, `nullable`, `enum` (and `const` as a
//! one-value enum), `required`, `properties` (as `[name, schema]` pairs, so the spec's order
//! survives a JSON map that sorts its keys), `additionalProperties`, `items`, `anyOf`/`oneOf`
//! (both as `anyOf`), `allOf`, numeric and length bounds, and `$ref` by schema name. Descriptions,
//! examples and vendor extensions are dropped. Schemas are reached from the event unions of both
//! dialects and from the REST shapes the testkit serves.

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Where the generated file goes, relative to the workspace root.
pub(crate) const OUT_PATH: &str = "realtime-testkit/src/generated/schemas.rs";

/// REST schemas the fake server checks or answers with.
const REST_ROOTS: &[&str] = &[
    "RealtimeCreateClientSecretRequest",
    "RealtimeCreateClientSecretResponse",
    "RealtimeCallReferRequest",
    "RealtimeCallRejectRequest",
    "RealtimeSessionCreateRequestGA",
    "WebhookRealtimeCallIncoming",
];

/// Fields the service requires although the spec leaves them optional: a content part without
/// `type` is refused with `missing_required_parameter` (`item.content[0].type`). Each entry is a
/// schema, a path of properties (`[]` for array items) and the field.
const SERVICE_REQUIRED: &[(&str, &[&str], &str)] = &[
    (
        "RealtimeConversationItemMessageSystem",
        &["content", "[]"],
        "type",
    ),
    (
        "RealtimeConversationItemMessageUser",
        &["content", "[]"],
        "type",
    ),
    (
        "RealtimeConversationItemMessageAssistant",
        &["content", "[]"],
        "type",
    ),
    ("RealtimeBetaConversationItem", &["content", "[]"], "type"),
    (
        "RealtimeBetaConversationItemWithReference",
        &["content", "[]"],
        "type",
    ),
];

/// Keywords copied as they are.
const PLAIN: &[&str] = &[
    "type",
    "nullable",
    "enum",
    "required",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
];

/// The generated file's text.
pub(crate) fn generate(spec: &Value) -> Result<String, String> {
    let schemas = spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .ok_or("spec has no components.schemas")?;
    let index = spec
        .get("x-realtime-index")
        .ok_or("spec has no x-realtime-index")?;
    let mut roots: Vec<String> = REST_ROOTS.iter().map(|s| (*s).to_owned()).collect();
    let mut events = Map::new();
    for dialect in ["ga", "beta"] {
        let mut per_dialect = Map::new();
        for direction in ["client", "server"] {
            let list = index
                .pointer(&format!("/{dialect}/{direction}_events"))
                .and_then(Value::as_array)
                .ok_or_else(|| format!("index has no {dialect}.{direction}_events"))?;
            let mut by_type = Map::new();
            for entry in list {
                let (Some(t), Some(s)) = (
                    entry.get("type").and_then(Value::as_str),
                    entry.get("schema").and_then(Value::as_str),
                ) else {
                    return Err(format!("bad index entry in {dialect}: {entry}"));
                };
                by_type.insert(t.to_owned(), json!(s));
                roots.push(s.to_owned());
            }
            per_dialect.insert(direction.to_owned(), Value::Object(by_type));
        }
        events.insert(dialect.to_owned(), Value::Object(per_dialect));
    }
    let mut reached = BTreeSet::new();
    let mut queue = roots;
    let mut out = BTreeMap::new();
    while let Some(name) = queue.pop() {
        if !reached.insert(name.clone()) {
            continue;
        }
        let schema = schemas
            .get(&name)
            .ok_or_else(|| format!("schema {name} is referenced but not defined"))?;
        out.insert(name, compact(schema, &mut queue)?);
    }
    for (name, path, field) in SERVICE_REQUIRED {
        let mut at = out
            .get_mut(*name)
            .ok_or_else(|| format!("override names unknown schema {name}"))?;
        for seg in *path {
            at = if *seg == "[]" {
                at.get_mut("items")
            } else {
                at.get_mut("properties")
                    .and_then(Value::as_array_mut)
                    .and_then(|pairs| {
                        pairs
                            .iter_mut()
                            .find(|p| p.get(0).and_then(Value::as_str) == Some(*seg))
                    })
                    .and_then(|p| p.get_mut(1))
            }
            .ok_or_else(|| format!("override path {name}.{} not found", path.join(".")))?;
        }
        let required = at
            .as_object_mut()
            .ok_or_else(|| format!("override target {name} is not an object"))?
            .entry("required")
            .or_insert_with(|| json!([]));
        if let Some(list) = required.as_array_mut() {
            if !list.iter().any(|v| v == *field) {
                list.push(json!(field));
            }
        }
    }
    let mut text = String::from(
        "// @generated by `cargo xtask codegen` from realtime-protocol/spec/realtime-openapi.json — do not edit\n\
         //! The spec's schemas, compacted for validation and key order (see `crate::schema`).\n\n\
         /// `{\"events\": {dialect: {client|server: {type: schema}}}, \"schemas\": {name: schema}}`.\n\
         pub(crate) const SCHEMAS: &str = r###\"{\n",
    );
    text.push_str(&format!("\"events\": {},\n", Value::Object(events)));
    text.push_str("\"schemas\": {\n");
    let n = out.len();
    for (i, (name, schema)) in out.into_iter().enumerate() {
        let sep = if i + 1 < n { "," } else { "" };
        text.push_str(&format!("{}: {schema}{sep}\n", json!(name)));
    }
    text.push_str("}}\"###;\n");
    Ok(text)
}

fn compact(v: &Value, queue: &mut Vec<String>) -> Result<Value, String> {
    let Some(o) = v.as_object() else {
        // `true` / `false` schemas.
        return Ok(v.clone());
    };
    let mut out = Map::new();
    if let Some(r) = o.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| format!("unsupported $ref {r}"))?;
        queue.push(name.to_owned());
        out.insert("$ref".into(), json!(name));
        return Ok(Value::Object(out));
    }
    for k in PLAIN {
        if let Some(x) = o.get(*k) {
            out.insert((*k).to_owned(), x.clone());
        }
    }
    // Bounds the spec states only in words ("limited to [0.6, 1.2]").
    if let Some((lo, hi)) = o
        .get("description")
        .and_then(Value::as_str)
        .and_then(stated_range)
    {
        out.entry("minimum").or_insert(json!(lo));
        out.entry("maximum").or_insert(json!(hi));
    }
    if let Some(c) = o.get("const") {
        out.insert("enum".into(), json!([c]));
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        let mut pairs = Vec::new();
        for (k, p) in props {
            pairs.push(json!([k, compact(p, queue)?]));
        }
        out.insert("properties".into(), Value::Array(pairs));
    }
    if let Some(a) = o.get("additionalProperties") {
        out.insert("additionalProperties".into(), compact(a, queue)?);
    }
    if let Some(i) = o.get("items") {
        out.insert("items".into(), compact(i, queue)?);
    }
    let mut any = Vec::new();
    for k in ["anyOf", "oneOf"] {
        if let Some(list) = o.get(k).and_then(Value::as_array) {
            for b in list {
                any.push(compact(b, queue)?);
            }
        }
    }
    if !any.is_empty() {
        out.insert("anyOf".into(), Value::Array(any));
    }
    if let Some(list) = o.get("allOf").and_then(Value::as_array) {
        let all: Result<Vec<Value>, String> = list.iter().map(|b| compact(b, queue)).collect();
        out.insert("allOf".into(), Value::Array(all?));
    }
    Ok(Value::Object(out))
}

/// `[lo, hi]` from a description saying "limited to [lo, hi]".
fn stated_range(description: &str) -> Option<(f64, f64)> {
    let rest = &description[description.find("limited to [")? + "limited to [".len()..];
    let inner = &rest[..rest.find(']')?];
    let (lo, hi) = inner.split_once(',')?;
    Some((lo.trim().parse().ok()?, hi.trim().parse().ok()?))
}
