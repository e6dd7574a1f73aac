//! Tool arguments: typed, with schema descriptions that tell an agent how to use them, and
//! parse errors that name the field.

use std::collections::BTreeMap;
use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteArgs {
    /// The capability name, as listed by list_services.
    pub capability: String,
    /// HTTP method: GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS.
    pub method: String,
    /// Path relative to the service's base URL, starting with '/', optionally with a query string, e.g. "/v1/charges?limit=5". Encoded slashes, dot segments and absolute URLs are refused.
    pub path: String,
    /// Request body as text (usually JSON). Content-Type defaults to application/json.
    #[serde(default)]
    pub body: Option<String>,
    /// Extra request headers. Authorization, Cookie, Host, X-Forwarded-* and hop-by-hop headers are refused: Janee adds the credential itself.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Why this call is needed, in one sentence. Required by some capabilities; recorded in the audit log.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestServiceArgs {
    /// The service to check (from list_services); all the services you may use when omitted.
    #[serde(default)]
    pub service: Option<String>,
}

/// A command as an argv array, or (Janee 0.16) a string split on whitespace.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Command {
    Argv(Vec<String>),
    Line(String),
}

impl Command {
    pub fn into_argv(self) -> Vec<String> {
        match self {
            Self::Argv(v) => v,
            Self::Line(s) => s.split_whitespace().map(str::to_string).collect(),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecArgs {
    /// The exec capability name, as listed by list_services.
    pub capability: String,
    /// The command as an argv array, e.g. ["gh", "issue", "list"]. The first element is the bare name of an allowed command; no shell is involved, so pipes, redirects and $VARS are plain text.
    pub command: Command,
    /// Working directory: an absolute path inside a directory the capability allows. Omit it to run in a fresh empty directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Text passed to the command's standard input.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Why this command is needed, in one sentence. Required by some capabilities; recorded in the audit log.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainArgs {
    /// The capability name.
    pub capability: String,
    /// For proxy capabilities: the HTTP method (default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// For proxy capabilities: the path, as you would give it to execute.
    #[serde(default)]
    pub path: Option<String>,
    /// For exec capabilities: the argv, e.g. ["gh", "issue", "list"].
    #[serde(default)]
    pub command: Option<Vec<String>>,
}

/// The form a human answers in the MCP client when a call needs approval.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ApprovalForm {
    /// Approve this request and open the session?
    pub approve: bool,
}
rmcp::elicit_safe!(ApprovalForm);

pub fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    rmcp::handler::server::common::schema_for_type::<T>()
}

/// A tool call's arguments: the object rmcp parsed, or the JSON text they arrived as (the fast
/// paths), which is parsed once, straight into the tool's argument type. Text that names a
/// member twice is refused (serde's duplicate-field error) where rmcp's object keeps the last.
#[derive(Debug)]
pub enum Arguments {
    Parsed(Option<JsonObject>),
    Text(ObjectText),
}

/// The text of a JSON object, as it stood in the request.
#[derive(Debug)]
pub struct ObjectText(Box<RawValue>);

impl<'de> Deserialize<'de> for ObjectText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        // A struct would also take an array, field by field: only an object is arguments.
        if raw.get().starts_with('{') {
            Ok(Self(raw))
        } else {
            Err(serde::de::Error::custom("arguments must be a JSON object"))
        }
    }
}

impl ObjectText {
    /// The `capability` member, when it is a string.
    pub fn capability(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Peek {
            capability: Option<String>,
        }
        serde_json::from_str::<Peek>(self.0.get())
            .ok()
            .and_then(|p| p.capability)
    }
}

/// Parse a call's arguments; a mistake is a JSON-RPC invalid-params error naming the field.
pub fn parse_arguments<T: DeserializeOwned>(arguments: Arguments) -> Result<T, ErrorData> {
    match arguments {
        Arguments::Parsed(object) => parse(Value::Object(object.unwrap_or_default())),
        Arguments::Text(text) => {
            let mut de = serde_json::Deserializer::from_str(text.0.get());
            serde_path_to_error::deserialize(&mut de).map_err(invalid)
        }
    }
}

/// Parse tool arguments; a mistake is a JSON-RPC invalid-params error naming the field.
pub fn parse<T: DeserializeOwned>(value: Value) -> Result<T, ErrorData> {
    serde_path_to_error::deserialize(value).map_err(invalid)
}

fn invalid(e: serde_path_to_error::Error<serde_json::Error>) -> ErrorData {
    let path = e.path().to_string();
    let json = e.inner();
    let mut inner = json.to_string();
    // Text parsed in place carries its position; the message is the same without it.
    if json.line() > 0 {
        let at = format!(" at line {} column {}", json.line(), json.column());
        if inner.ends_with(&at) {
            inner.truncate(inner.len() - at.len());
        }
    }
    // serde names missing and unknown fields in its message; otherwise the path does.
    let field = if path == "." {
        inner
            .split('`')
            .nth(1)
            .map(str::to_string)
            .unwrap_or_else(|| "arguments".into())
    } else {
        path.clone()
    };
    let message = format!(
        "invalid field `{field}`: {}",
        inner.chars().take(200).collect::<String>()
    );
    ErrorData::invalid_params(message, Some(json!({"field": field})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let e = parse::<ExecuteArgs>(json!({"capability": "x", "method": "GET"})).unwrap_err();
        assert!(e.message.contains("`path`"), "{}", e.message);
        let e =
            parse::<ExecuteArgs>(json!({"capability": "x", "method": 5, "path": "/"})).unwrap_err();
        assert!(e.message.contains("`method`"), "{}", e.message);
        let e = parse::<ExecuteArgs>(
            json!({"capability": "x", "method": "GET", "path": "/", "headers": {"a": 1}}),
        )
        .unwrap_err();
        assert!(e.message.contains("headers.a"), "{}", e.message);
        let e = parse::<ExecuteArgs>(
            json!({"capability": "x", "method": "GET", "path": "/", "evil": 1}),
        )
        .unwrap_err();
        assert!(e.message.contains("`evil`"), "{}", e.message);
    }

    fn text(s: &str) -> Arguments {
        Arguments::Text(serde_json::from_str(s).expect("an object"))
    }

    #[test]
    fn text_and_parsed_arguments_give_the_same_answers() {
        for args in [
            json!({"capability": "x", "method": "GET"}),
            json!({"capability": "x", "method": 5, "path": "/"}),
            json!({"capability": "x", "method": "GET", "path": "/", "headers": {"a": 1}}),
            json!({"capability": "x", "method": "GET", "path": "/", "evil": 1}),
            json!({"capability": "x", "method": "GET", "path": "/", "body": ["not text"]}),
            json!({}),
        ] {
            let object = args.as_object().cloned();
            let parsed = parse_arguments::<ExecuteArgs>(Arguments::Parsed(object)).unwrap_err();
            let text = parse_arguments::<ExecuteArgs>(text(&args.to_string())).unwrap_err();
            assert_eq!(parsed.message, text.message, "{args}");
            assert_eq!(parsed.data, text.data, "{args}");
            assert!(!text.message.contains("line 1"), "{}", text.message);
        }
        let ok =
            text(r#"{"capability":"c","method":"GET","path":"/v1?a=1","headers":{"x-a":"b"}}"#);
        let a: ExecuteArgs = parse_arguments(ok).unwrap();
        assert_eq!((a.capability.as_str(), a.path.as_str()), ("c", "/v1?a=1"));
        assert_eq!(a.headers.unwrap()["x-a"], "b");
        // A member given twice is refused rather than one of the two silently chosen.
        let twice = text(r#"{"capability":"c","method":"GET","path":"/a","path":"/b"}"#);
        assert!(parse_arguments::<ExecuteArgs>(twice).is_err());
    }

    #[test]
    fn only_an_object_is_arguments_text() {
        for bad in [r#"["c","GET","/"]"#, r#""c""#, "5", "true"] {
            assert!(serde_json::from_str::<ObjectText>(bad).is_err(), "{bad}");
        }
        let o: ObjectText = serde_json::from_str(r#" {"capability":"c"} "#).unwrap();
        assert_eq!(o.capability().as_deref(), Some("c"));
        let o: ObjectText = serde_json::from_str(r#"{"capability":5}"#).unwrap();
        assert_eq!(o.capability(), None);
    }
}
