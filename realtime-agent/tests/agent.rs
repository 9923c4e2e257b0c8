//! Agents, tools, schemas, handoffs and guardrails, without any network.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use realtime_agent::{
    parameters_schema, AgentError, AgentRef, FunctionTool, GuardrailFn, GuardrailOutput, Handoff,
    OutputGuardrail, RealtimeAgent, RunContext, Tool, ToolContext, ToolError,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

// ----- schema table -----

/// Plain fields.
#[derive(Deserialize, JsonSchema)]
struct Primitives {
    /// A name.
    name: String,
    count: u32,
    ratio: f64,
    on: bool,
    delta: i64,
}

#[derive(Deserialize, JsonSchema)]
struct Optionals {
    required: String,
    /// Maybe a number.
    maybe: Option<i32>,
    maybe_nested: Option<Inner>,
    #[serde(default)]
    defaulted: u8,
}

/// A nested object.
#[derive(Deserialize, JsonSchema)]
struct Inner {
    /// Street.
    street: String,
    zip: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct Lists {
    tags: Vec<String>,
    items: Vec<Inner>,
}

/// How to pay.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Unit {
    Celsius,
    Fahrenheit,
}

#[derive(Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Payment {
    /// By card.
    Card { last4: String },
    /// By bank transfer.
    Bank {
        iban: String,
        reference: Option<String>,
    },
}

#[derive(Deserialize, JsonSchema)]
struct Enums {
    unit: Unit,
    payment: Payment,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Renamed {
    first_name: String,
    #[serde(rename = "ZIP")]
    zip_code: String,
}

/// A tree of comments.
#[derive(Deserialize, JsonSchema)]
struct Comment {
    text: String,
    replies: Vec<Comment>,
}

#[derive(Deserialize, JsonSchema)]
struct Maps {
    scores: BTreeMap<String, u32>,
}

#[derive(Deserialize, JsonSchema)]
struct Empty {}

fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("primitives", parameters_schema::<Primitives>()),
        ("optionals", parameters_schema::<Optionals>()),
        ("lists", parameters_schema::<Lists>()),
        ("enums", parameters_schema::<Enums>()),
        ("renamed", parameters_schema::<Renamed>()),
        ("recursive", parameters_schema::<Comment>()),
        ("maps", parameters_schema::<Maps>()),
        ("empty", parameters_schema::<Empty>()),
        ("unit_args", parameters_schema::<()>()),
    ]
}

#[test]
fn derived_schemas() {
    for (name, schema) in schemas() {
        insta::with_settings!({ sort_maps => true }, { insta::assert_json_snapshot!(format!("schema_{name}"), schema) });
    }
}

/// Every object in a normalized schema lists every property as required and forbids extras.
#[test]
fn schemas_are_strict_shaped() {
    fn walk(v: &serde_json::Value, path: &str, problems: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(o) => {
                for banned in ["$schema", "title", "oneOf", "default"] {
                    if o.contains_key(banned) {
                        problems.push(format!("{path}: has {banned}"));
                    }
                }
                if let Some(serde_json::Value::Object(props)) = o.get("properties") {
                    let req: Vec<&str> = o["required"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_str().unwrap())
                        .collect();
                    for k in props.keys() {
                        if !req.contains(&k.as_str()) {
                            problems.push(format!("{path}: {k} not required"));
                        }
                    }
                    if o.get("additionalProperties") != Some(&serde_json::Value::Bool(false)) {
                        problems.push(format!("{path}: additionalProperties is not false"));
                    }
                }
                if let Some(serde_json::Value::String(f)) = o.get("format") {
                    problems.push(format!("{path}: format {f}"));
                }
                for (k, c) in o {
                    walk(c, &format!("{path}.{k}"), problems);
                }
            }
            serde_json::Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, c)| walk(c, &format!("{path}[{i}]"), problems)),
            _ => {}
        }
    }
    let mut problems = Vec::new();
    for (name, schema) in schemas() {
        assert_eq!(schema["type"], "object", "{name}");
        walk(&schema, name, &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // The recursive type stays valid: its self reference points at a kept definition.
    let rec = parameters_schema::<Comment>();
    let r = rec["properties"]["replies"]["items"]["$ref"]
        .as_str()
        .unwrap();
    match r.strip_prefix("#/$defs/") {
        Some(def) => assert!(rec["$defs"][def]["properties"]["text"].is_object()),
        None => assert_eq!(r, "#", "a reference to the root"),
    }
}

/// A minimal instance of `schema` in which every nullable value is `null`: what a model in
/// strict mode sends for the fields it leaves out.
fn all_null_instance(
    schema: &serde_json::Value,
    root: &serde_json::Value,
    depth: usize,
) -> serde_json::Value {
    use serde_json::{json, Value};
    let resolve = |r: &str| -> Value {
        if r == "#" {
            return root.clone();
        }
        let path = r.trim_start_matches('#');
        root.pointer(path).cloned().unwrap_or(Value::Null)
    };
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return all_null_instance(&resolve(r), root, depth + 1);
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
        if options.iter().any(|o| o["type"] == "null") {
            return Value::Null;
        }
        return all_null_instance(&options[0], root, depth + 1);
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        return e[0].clone();
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"null") {
        return Value::Null;
    }
    match types.first().copied() {
        Some("object") => {
            let mut out = serde_json::Map::new();
            if let Some(props) = schema["properties"].as_object() {
                for (k, p) in props {
                    // A recursive type ends in an empty list.
                    let v = if depth > 8 {
                        Value::Null
                    } else {
                        all_null_instance(p, root, depth + 1)
                    };
                    out.insert(k.clone(), v);
                }
            }
            Value::Object(out)
        }
        Some("array") => json!([]),
        Some("string") => json!("x"),
        Some("integer") => json!(1),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        _ => Value::Null,
    }
}

async fn parses_all_null<T>(name: &str) -> Result<(), String>
where
    T: serde::de::DeserializeOwned + JsonSchema + Send + 'static,
{
    let schema = parameters_schema::<T>();
    let args = all_null_instance(&schema, &schema, 0);
    let tool = FunctionTool::new(name, "t", |_: ToolContext<Ctx>, _: T| async move {
        Ok::<_, String>("ok")
    })
    .unwrap();
    match call(&tool, &ctx(false), &args.to_string()).await {
        Ok(out) if out == "ok" => Ok(()),
        other => Err(format!("{name}: {args} -> {other:?}")),
    }
}

/// Every field the published schema marks nullable takes `null` (a defaulted field then gets
/// its default), across the whole schema table.
#[tokio::test]
async fn nullable_fields_accept_null() {
    let results = [
        parses_all_null::<Primitives>("primitives").await,
        parses_all_null::<Optionals>("optionals").await,
        parses_all_null::<Lists>("lists").await,
        parses_all_null::<Enums>("enums").await,
        parses_all_null::<Renamed>("renamed").await,
        parses_all_null::<Comment>("recursive").await,
        parses_all_null::<Maps>("maps").await,
        parses_all_null::<Empty>("empty").await,
        parses_all_null::<Defaults>("defaults").await,
    ];
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    // The defaults really are taken, and a `null` for a required field is still an error
    // naming the problem.
    let tool = FunctionTool::new("d", "t", |_: ToolContext<Ctx>, d: Defaults| async move {
        Ok::<_, String>(format!(
            "{} {} {:?} {}",
            d.seats,
            d.tags.len(),
            d.note,
            d.inner.street
        ))
    })
    .unwrap();
    let c = ctx(false);
    let out = call(&tool, &c, r#"{"seats":null,"tags":null,"note":null,"inner":{"street":"Main","zip":null,"floor":null}}"#).await;
    assert_eq!(out.unwrap(), "2 0 None Main");
    let out = call(
        &tool,
        &c,
        r#"{"seats":3,"tags":["a"],"note":"n","inner":null}"#,
    )
    .await;
    match out {
        Err(ToolError::InvalidArguments { message, .. }) => {
            assert!(message.contains("null"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

fn two() -> u32 {
    2
}

#[derive(Deserialize, JsonSchema)]
struct Defaults {
    #[serde(default = "two")]
    seats: u32,
    #[serde(default)]
    tags: Vec<String>,
    note: Option<String>,
    inner: WithDefault,
}

#[derive(Deserialize, JsonSchema)]
struct WithDefault {
    street: String,
    zip: Option<String>,
    #[serde(default)]
    floor: i8,
}

// ----- tools -----

#[derive(Deserialize, JsonSchema)]
struct WeatherArgs {
    /// The city.
    city: String,
    unit: Option<Unit>,
}

#[derive(Serialize)]
struct Weather {
    city: String,
    temp: i32,
}

struct Ctx {
    user: String,
    premium: bool,
    calls: AtomicUsize,
}

fn ctx(premium: bool) -> RunContext<Ctx> {
    RunContext::new(Ctx {
        user: "ada".into(),
        premium,
        calls: AtomicUsize::new(0),
    })
}

fn weather_tool() -> FunctionTool<Ctx> {
    FunctionTool::new(
        "get_weather",
        "Current weather.",
        |t: ToolContext<Ctx>, a: WeatherArgs| async move {
            t.context().calls.fetch_add(1, Ordering::SeqCst);
            if a.city == "Atlantis" {
                return Err(format!("no weather station in {}", a.city));
            }
            Ok(Weather {
                city: a.city,
                temp: 21,
            })
        },
    )
    .unwrap()
}

async fn call(
    tool: &dyn Tool<Ctx>,
    ctx: &RunContext<Ctx>,
    args: &str,
) -> Result<String, ToolError> {
    tool.invoke(ToolContext::new(ctx.clone(), "call_1", tool.name()), args)
        .await
}

#[tokio::test]
async fn invoking_tools() {
    let tool = weather_tool();
    let c = ctx(false);
    let cases: Vec<(&str, Result<&str, &str>)> = vec![
        (r#"{"city":"Paris"}"#, Ok(r#"{"city":"Paris","temp":21}"#)),
        (r#"{"city":"Paris","unit":null}"#, Ok(r#"{"city":"Paris","temp":21}"#)),
        (r#"{"city":"Paris","unit":"celsius","extra":1}"#, Ok(r#"{"city":"Paris","temp":21}"#)),
        (r#"{"city":"Paris""#, Err("invalid arguments for tool `get_weather`: not valid JSON: EOF while parsing an object")),
        (r#"{"town":"Paris"}"#, Err("invalid arguments for tool `get_weather`: missing field `city`")),
        (r#"{"city":42}"#, Err("invalid arguments for tool `get_weather`: invalid type: integer `42`, expected a string")),
        (r#"{"city":"Paris","unit":"kelvin"}"#, Err("invalid arguments for tool `get_weather`: unknown variant `kelvin`, expected `celsius` or `fahrenheit`")),
        ("", Err("invalid arguments for tool `get_weather`: missing field `city`")),
        (r#"{"city":"Atlantis"}"#, Err("tool `get_weather` failed: no weather station in Atlantis")),
    ];
    for (args, expected) in cases {
        let got = call(&tool, &c, args).await;
        match (&got, expected) {
            (Ok(out), Ok(want)) => assert_eq!(out, want, "{args}"),
            (Err(e), Err(want)) => assert!(e.to_string().starts_with(want), "{args}: {e}"),
            _ => panic!("{args}: got {got:?}, expected {expected:?}"),
        }
    }
    assert_eq!(
        c.calls.load(Ordering::SeqCst),
        4,
        "the function ran only for arguments that fit"
    );
    let err = call(&tool, &c, "{").await.unwrap_err();
    assert!(tool.format_error(&err).starts_with(
        "An error occurred while running the tool. Please try again. Error: invalid arguments"
    ));
}

#[tokio::test]
async fn tool_output_text_and_formatter() {
    let echo = FunctionTool::new(
        "echo",
        "Echo.",
        |_t: ToolContext<()>, a: Inner| async move { Ok::<_, String>(a.street) },
    )
    .unwrap()
    .with_error_formatter(|e| format!("sorry: {e}"))
    .with_timeout(std::time::Duration::from_secs(2))
    .require_approval_when(|_, args| args["street"] == "Downing");
    let c = RunContext::default();
    let out = echo
        .invoke(
            ToolContext::new(c.clone(), "c", "echo"),
            r#"{"street":"Main"}"#,
        )
        .await
        .unwrap();
    assert_eq!(out, "Main", "a string goes to the model as it is");
    let err = echo
        .invoke(ToolContext::new(c.clone(), "c", "echo"), "[]")
        .await
        .unwrap_err();
    assert!(echo
        .format_error(&err)
        .starts_with("sorry: invalid arguments"));
    assert_eq!(echo.timeout(), Some(std::time::Duration::from_secs(2)));
    assert!(echo.needs_approval(&c, &serde_json::json!({"street": "Downing"})));
    assert!(!echo.needs_approval(&c, &serde_json::json!({"street": "Main"})));
    assert!(
        FunctionTool::new("bad name!", "", |_t: ToolContext<()>, _a: Empty| async {
            Ok::<_, String>("")
        })
        .is_err()
    );
}

// ----- agents -----

#[tokio::test]
async fn instructions_get_the_context() {
    let sync = RealtimeAgent::<Ctx>::builder("Sync")
        .instructions_fn(|c, a| format!("{} serves {}", a.name(), c.context().user))
        .build()
        .unwrap();
    let async_ = RealtimeAgent::<Ctx>::builder("Async")
        .instructions_async(|c, a| async move {
            format!("{} (async) serves {}", a.name(), c.context().user)
        })
        .build()
        .unwrap();
    let fixed = RealtimeAgent::<Ctx>::builder("Fixed")
        .instructions("Be brief.")
        .build()
        .unwrap();
    let c = ctx(false);
    assert_eq!(sync.instructions(&c).await, "Sync serves ada");
    assert_eq!(async_.instructions(&c).await, "Async (async) serves ada");
    assert_eq!(fixed.instructions(&c).await, "Be brief.");
    let variant = fixed
        .to_builder()
        .name("Fixed2")
        .instructions("Be long.")
        .build()
        .unwrap();
    assert_eq!(
        fixed.instructions(&c).await,
        "Be brief.",
        "deriving leaves the original alone"
    );
    assert_eq!(
        (variant.name(), variant.instructions(&c).await.as_str()),
        ("Fixed2", "Be long.")
    );
    assert!(RealtimeAgent::<()>::builder(" ").build().is_err());
}

#[test]
fn enabled_filtering_and_duplicates() {
    let premium_tool = FunctionTool::new(
        "refund",
        "Refund.",
        |_t: ToolContext<Ctx>, _a: Empty| async { Ok::<_, String>("ok") },
    )
    .unwrap()
    .enabled_when(|c| c.context().premium);
    let billing = RealtimeAgent::<Ctx>::builder("Billing Agent")
        .build()
        .unwrap();
    let hidden = RealtimeAgent::<Ctx>::builder("Hidden").build().unwrap();
    let agent = RealtimeAgent::<Ctx>::builder("Triage")
        .tool(weather_tool())
        .tool(premium_tool)
        .handoff_to(&billing)
        .handoff(Handoff::to(&hidden).enabled(false))
        .build()
        .unwrap();
    let names = |c: &RunContext<Ctx>| {
        agent
            .tool_definitions(c)
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&ctx(false)),
        ["get_weather", "transfer_to_billing_agent"]
    );
    assert_eq!(
        names(&ctx(true)),
        ["get_weather", "refund", "transfer_to_billing_agent"]
    );
    assert!(agent.find_tool(&ctx(false), "refund").is_none());
    assert!(agent.find_tool(&ctx(true), "refund").is_some());
    assert!(agent
        .find_handoff(&ctx(true), "transfer_to_hidden")
        .is_none());

    let dup = RealtimeAgent::<Ctx>::builder("Dup")
        .tool(weather_tool())
        .tool(weather_tool())
        .build()
        .unwrap();
    assert_eq!(
        dup.tool_definitions(&ctx(false)).unwrap_err(),
        AgentError::DuplicateToolName {
            agent: "Dup".into(),
            name: "get_weather".into()
        }
    );
    let clash = RealtimeAgent::<Ctx>::builder("Clash")
        .handoff_to(&billing)
        .handoff(
            Handoff::to(&hidden)
                .tool_name("transfer_to_billing_agent")
                .unwrap(),
        )
        .build()
        .unwrap();
    assert!(matches!(
        clash.tool_definitions(&ctx(false)),
        Err(AgentError::DuplicateToolName { .. })
    ));
}

#[test]
fn tool_definitions_in_both_dialects() {
    let agent = RealtimeAgent::<Ctx>::builder("A")
        .tool(weather_tool())
        .build()
        .unwrap();
    let def = &agent.tool_definitions(&ctx(false)).unwrap()[0];
    let ga = serde_json::to_value(def.to_ga()).unwrap();
    let beta = serde_json::to_value(def.to_beta()).unwrap();
    assert_eq!(ga, beta, "the two dialects spell function tools alike");
    insta::with_settings!({ sort_maps => true }, { insta::assert_json_snapshot!("ga_tool_definition", ga) });
}

// ----- handoffs -----

#[derive(Deserialize, JsonSchema)]
struct Escalation {
    /// Why the caller is escalated.
    reason: String,
}

#[tokio::test]
async fn handoffs() {
    let billing = RealtimeAgent::<Ctx>::builder("Billing Agent")
        .handoff_description("Invoices and refunds.")
        .build()
        .unwrap();
    let plain = RealtimeAgent::<Ctx>::builder("Support").build().unwrap();
    let h = Handoff::to(&billing);
    assert_eq!(h.name(), "transfer_to_billing_agent");
    assert_eq!(
        h.description(),
        "Handoff to the Billing Agent agent to handle the request. Invoices and refunds."
    );
    assert_eq!(
        Handoff::to(&plain).description(),
        "Handoff to the Support agent to handle the request."
    );
    let custom = Handoff::to(&billing)
        .tool_name("escalate")
        .unwrap()
        .tool_description("Escalate to billing.");
    assert_eq!(
        (custom.name(), custom.description()),
        ("escalate", "Escalate to billing.")
    );
    assert!(Handoff::to(&billing).tool_name("no spaces").is_err());
    assert_eq!(
        realtime_agent::snake_case("  Front-Desk  Agent 2 "),
        "front_desk_agent_2"
    );

    let c = ctx(false);
    let target = h.invoke(c.clone(), "").await.unwrap();
    assert_eq!(target, billing);

    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let with_input = Handoff::to(&billing).with_input(move |_c: RunContext<Ctx>, e: Escalation| {
        let seen = seen2.clone();
        async move { seen.lock().unwrap().push(e.reason) }
    });
    assert_eq!(with_input.input_schema()["required"][0], "reason");
    with_input
        .invoke(c.clone(), r#"{"reason":"double charge"}"#)
        .await
        .unwrap();
    let err = with_input
        .invoke(c.clone(), r#"{"why":"x"}"#)
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::InvalidArguments { .. }), "{err:?}");
    assert_eq!(
        *seen.lock().unwrap(),
        ["double charge"],
        "on_handoff runs only with valid input"
    );

    let counter = Arc::new(AtomicUsize::new(0));
    let c2 = counter.clone();
    let counted = Handoff::to(&billing).on_handoff(move |_c| {
        let c2 = c2.clone();
        async move {
            c2.fetch_add(1, Ordering::SeqCst);
        }
    });
    counted.invoke(c.clone(), "{}").await.unwrap();
    assert_eq!(counter.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn agents_that_hand_off_to_each_other() {
    let triage_ref = AgentRef::<Ctx>::new("Triage");
    let billing = RealtimeAgent::<Ctx>::builder("Billing")
        .handoff(Handoff::to_ref(&triage_ref, Some("Routes callers.")))
        .build()
        .unwrap();
    let back = billing.handoffs()[0].clone();
    assert_eq!(back.name(), "transfer_to_triage");
    assert!(
        matches!(
            back.invoke(ctx(false), "{}").await,
            Err(ToolError::Failed { .. })
        ),
        "unset reference"
    );
    let triage = RealtimeAgent::<Ctx>::builder("Triage")
        .handoff_to(&billing)
        .build()
        .unwrap();
    assert!(triage_ref.set(triage.clone()));
    assert!(!triage_ref.set(triage.clone()), "set once");
    assert_eq!(back.invoke(ctx(false), "{}").await.unwrap(), triage);
    let to_billing = triage.handoffs()[0].invoke(ctx(false), "{}").await.unwrap();
    assert_eq!(to_billing, billing);
}

// ----- guardrails -----

#[tokio::test]
async fn guardrails() {
    let no_prices = GuardrailFn::new(
        "no_prices",
        |_c: RunContext<Ctx>, _a, text: String| async move {
            if text.contains('$') {
                GuardrailOutput::trip(serde_json::json!({"reason": "mentions a price"}))
            } else {
                GuardrailOutput::pass()
            }
        },
    );
    assert_eq!(no_prices.name(), "no_prices");
    let agent = RealtimeAgent::<Ctx>::builder("A")
        .output_guardrail(no_prices)
        .build()
        .unwrap();
    let g = &agent.output_guardrails()[0];
    let c = ctx(false);
    assert!(!g.check(&c, &agent, "Hello").await.tripwire_triggered);
    let out = g.check(&c, &agent, "That is $5").await;
    assert!(out.tripwire_triggered);
    assert_eq!(out.info["reason"], "mentions a price");
}

#[test]
fn debug_output_names_things() {
    let agent = RealtimeAgent::<Ctx>::builder("A")
        .instructions("x")
        .tool(weather_tool())
        .build()
        .unwrap();
    let shown = format!("{agent:?}");
    assert!(
        shown.contains("get_weather") && shown.contains("\"A\""),
        "{shown}"
    );
}
