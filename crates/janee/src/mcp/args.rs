//! Tool arguments: typed, with schema descriptions that tell an agent how to use them, and
//! parse errors that name the field.

use std::collections::BTreeMap;
use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
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

/// Parse tool arguments; a mistake is a JSON-RPC invalid-params error naming the field.
pub fn parse<T: DeserializeOwned>(value: Value) -> Result<T, ErrorData> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
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
    })
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
}
