//! Server frames written as the service writes them: `type` first, then `event_id`, then the
//! fields in the spec's order, at every depth. The order comes from the spec's schemas, not from
//! the JSON map, so it is the same in every build whatever serde_json features the workspace
//! unifies. Keys the spec does not list follow, sorted.

use crate::schema::{discriminate, Direction, Spec};
use realtime_protocol::Dialect;
use serde_json::{Map, Value};

/// The text of a server event in the service's key order.
pub(crate) fn server_event(dialect: Dialect, event: &Value) -> String {
    let mut out = String::with_capacity(128);
    let spec = Spec::get();
    let node = spec.and_then(|s| {
        let t = event.get("type")?.as_str()?;
        s.event(dialect, Direction::Server, t)
    });
    write(&mut out, spec, node, event, true);
    out
}

/// The text of a value shaped by a named schema (a REST body), in the spec's key order.
pub(crate) fn named(schema: &str, value: &Value) -> String {
    let mut out = String::with_capacity(128);
    let spec = Spec::get();
    let node = spec.and_then(|s| s.named(schema));
    write(&mut out, spec, node, value, false);
    out
}

fn write(out: &mut String, spec: Option<&Spec>, node: Option<usize>, v: &Value, event: bool) {
    match v {
        Value::Object(map) => write_object(out, spec, node, v, map, event),
        Value::Array(items) => {
            let item = spec.zip(node).and_then(|(s, n)| items_of(s, n));
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let n = spec.zip(item).map(|(s, it)| pick(s, it, x));
                write(out, spec, n, x, false);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn items_of(spec: &Spec, n: usize) -> Option<usize> {
    let node = spec.resolve(n);
    node.items
        .or_else(|| node.any_of.iter().find_map(|&b| spec.resolve(b).items))
}

/// The node that describes `v` among `n`'s `anyOf` branches (or `n` itself).
fn pick(spec: &Spec, n: usize, v: &Value) -> usize {
    let mut n = n;
    for _ in 0..8 {
        let node = spec.resolve(n);
        if node.any_of.is_empty() {
            return n;
        }
        let objects: Vec<usize> = node
            .any_of
            .iter()
            .copied()
            .filter(|&b| {
                let r = spec.resolve(b);
                r.properties.is_some() || !r.any_of.is_empty() || r.items.is_some()
            })
            .collect();
        let candidates = match v {
            Value::Object(map) => {
                let c = discriminate(spec, &objects, v).unwrap_or_default();
                let c = if c.is_empty() { objects } else { c };
                // Prefer the branch that lists every key the value has.
                c.iter()
                    .copied()
                    .find(|&b| map.keys().all(|k| spec.resolve(b).property(k).is_some()))
                    .or_else(|| c.first().copied())
            }
            Value::Array(_) => objects
                .iter()
                .copied()
                .find(|&b| spec.resolve(b).items.is_some()),
            _ => None,
        };
        match candidates {
            Some(b) => n = b,
            None => return n,
        }
    }
    n
}

fn write_object(
    out: &mut String,
    spec: Option<&Spec>,
    node: Option<usize>,
    v: &Value,
    map: &Map<String, Value>,
    event: bool,
) {
    let resolved = spec.zip(node).map(|(s, n)| {
        let n = pick(s, n, v);
        (s, s.resolve(n))
    });
    let mut keys: Vec<&str> = Vec::with_capacity(map.len());
    if event {
        for k in ["type", "event_id"] {
            if map.contains_key(k) {
                keys.push(k);
            }
        }
    }
    if let Some((_, node)) = resolved {
        for (k, _) in node.properties.iter().flatten() {
            if map.contains_key(k) && !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
    }
    let mut rest: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !keys.contains(k))
        .collect();
    rest.sort_unstable();
    keys.extend(rest);
    out.push('{');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::String((*k).to_owned()).to_string());
        out.push(':');
        let v = &map[*k];
        let child = resolved.and_then(|(s, node)| {
            let p = node.property(k)?;
            Some(pick(s, p, v))
        });
        write(out, spec, child, v, false);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_first_then_event_id_then_spec_order_at_every_depth() {
        let ev = json!({"response": {"usage": null, "status": "completed", "id": "resp_1", "object": "realtime.response", "zzz": 1}, "event_id": "event_1", "type": "response.done"});
        let text = server_event(Dialect::Ga, &ev);
        assert_eq!(
            text,
            r#"{"type":"response.done","event_id":"event_1","response":{"id":"resp_1","object":"realtime.response","status":"completed","usage":null,"zzz":1}}"#
        );
        let back: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back, ev);
    }

    #[test]
    fn unknown_events_keep_type_first() {
        let ev =
            json!({"b": 1, "a": [1, {"y": 2, "x": 1}], "type": "future.event", "event_id": "e"});
        assert_eq!(
            server_event(Dialect::Beta, &ev),
            r#"{"type":"future.event","event_id":"e","a":[1,{"x":1,"y":2}],"b":1}"#
        );
    }
}
