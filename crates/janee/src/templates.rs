//! Built-in service templates: base URL, auth scheme and a read-only capability preset for
//! common APIs, so that `janee add stripe --key-from-env STRIPE_KEY` is all it takes.

use serde::Serialize;

/// How a template's credential is applied (the schemes of [`crate::auth::AuthKind`]).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum TemplateAuth {
    Bearer {
        scheme: &'static str,
    },
    Basic {
        username_hint: &'static str,
    },
    /// One header carries the key.
    Header {
        name: &'static str,
    },
    Query {
        param: &'static str,
    },
    /// AWS Signature Version 4 (fields `accessKeyId`, `secretAccessKey`, optional
    /// `sessionToken`).
    #[serde(rename = "aws-sigv4")]
    AwsSigV4 {
        region: &'static str,
        service: &'static str,
    },
    /// A GitHub App: installation tokens minted from the App's private key.
    GithubApp,
}

impl TemplateAuth {
    /// The auth type's name as `--auth-type` takes it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Bearer { .. } => "bearer",
            Self::Basic { .. } => "basic",
            Self::Header { .. } => "headers",
            Self::Query { .. } => "query",
            Self::AwsSigV4 { .. } => "aws-sigv4",
            Self::GithubApp => "github-app",
        }
    }

    /// The non-secret auth settings the template implies.
    pub fn to_raw(&self) -> crate::config::raw::RawAuth {
        let mut raw = crate::config::raw::RawAuth::of(self.type_name());
        match *self {
            Self::Bearer { scheme } if scheme != "Bearer" => raw.scheme = Some(scheme.into()),
            Self::Query { param } => raw.param = Some(param.into()),
            Self::AwsSigV4 { region, service } => {
                raw.region = Some(region.into());
                raw.aws_service = Some(service.into());
            }
            _ => {}
        }
        raw
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub name: &'static str,
    pub title: &'static str,
    pub base_url: &'static str,
    pub auth: TemplateAuth,
    /// A harmless authenticated GET for `janee test`.
    pub test_path: &'static str,
    /// The read-only capability preset.
    pub allow: &'static [&'static str],
    pub deny: &'static [&'static str],
    pub tags: &'static [&'static str],
    /// Anything the user must know (a tenant URL to fill in, a version header to send).
    pub note: &'static str,
}

const fn bearer() -> TemplateAuth {
    TemplateAuth::Bearer { scheme: "Bearer" }
}

macro_rules! t {
    ($name:literal, $title:literal, $url:literal, $auth:expr, $test:literal, [$($allow:literal),*], [$($deny:literal),*], [$($tag:literal),*], $note:literal) => {
        Template { name: $name, title: $title, base_url: $url, auth: $auth, test_path: $test, allow: &[$($allow),*], deny: &[$($deny),*], tags: &[$($tag),*], note: $note }
    };
}

/// Every built-in template.
pub fn all() -> &'static [Template] {
    TEMPLATES
}

static TEMPLATES: &[Template] = &[
    t!(
        "stripe",
        "Stripe",
        "https://api.stripe.com",
        bearer(),
        "/v1/balance",
        ["GET /v1/*"],
        [],
        ["payments", "billing"],
        ""
    ),
    t!(
        "github",
        "GitHub REST API",
        "https://api.github.com",
        bearer(),
        "/user",
        ["GET /*"],
        [],
        ["git", "code", "issues"],
        "For the gh and git CLIs, add with --exec --allow-commands gh,git --env-map 'GH_TOKEN={{credential}}'."
    ),
    t!(
        "openai",
        "OpenAI",
        "https://api.openai.com/v1",
        bearer(),
        "/models",
        ["GET /models*", "GET /files*"],
        [],
        ["llm", "ai"],
        "Generation endpoints are POSTs: allow e.g. 'POST /chat/completions' when you mean to."
    ),
    t!(
        "anthropic",
        "Anthropic",
        "https://api.anthropic.com/v1",
        TemplateAuth::Header { name: "x-api-key" },
        "/models",
        ["GET /models*"],
        [],
        ["llm", "ai", "claude"],
        "Requests need the header anthropic-version: 2023-06-01 (the agent may send it)."
    ),
    t!(
        "slack",
        "Slack Web API",
        "https://slack.com/api",
        bearer(),
        "/auth.test",
        [
            "GET /auth.test*",
            "GET /conversations.list*",
            "GET /conversations.history*",
            "GET /conversations.info*",
            "GET /users.list*",
            "GET /users.info*",
            "GET /team.info*"
        ],
        [],
        ["chat", "messaging"],
        ""
    ),
    t!(
        "linear",
        "Linear",
        "https://api.linear.app",
        TemplateAuth::Header {
            name: "Authorization"
        },
        "/graphql?query=%7Bviewer%7Bid%7D%7D",
        ["GET /graphql*"],
        [],
        ["issues", "project"],
        "Linear is GraphQL: mutations are POST /graphql, which this preset does not allow."
    ),
    t!(
        "notion",
        "Notion",
        "https://api.notion.com/v1",
        bearer(),
        "/users/me",
        ["GET /*", "POST /search", "POST /databases/*/query"],
        [],
        ["docs", "wiki"],
        "Requests need the header Notion-Version (e.g. 2022-06-28)."
    ),
    t!(
        "twilio",
        "Twilio",
        "https://api.twilio.com/2010-04-01",
        TemplateAuth::Basic {
            username_hint: "your Account SID"
        },
        "/Accounts.json",
        ["GET /Accounts*"],
        [],
        ["sms", "voice"],
        "Username: the Account SID; password: the auth token."
    ),
    t!(
        "sendgrid",
        "SendGrid",
        "https://api.sendgrid.com/v3",
        bearer(),
        "/scopes",
        ["GET /*"],
        [],
        ["email"],
        ""
    ),
    t!(
        "mailgun",
        "Mailgun",
        "https://api.mailgun.net/v3",
        TemplateAuth::Basic {
            username_hint: "api"
        },
        "/domains",
        ["GET /*"],
        [],
        ["email"],
        "Username is the literal word api; password is the API key."
    ),
    t!(
        "airtable",
        "Airtable",
        "https://api.airtable.com/v0",
        bearer(),
        "/meta/whoami",
        ["GET /*"],
        [],
        ["database", "spreadsheet"],
        ""
    ),
    t!(
        "asana",
        "Asana",
        "https://app.asana.com/api/1.0",
        bearer(),
        "/users/me",
        ["GET /*"],
        [],
        ["tasks", "project"],
        ""
    ),
    t!(
        "jira",
        "Jira Cloud",
        "https://your-domain.atlassian.net",
        TemplateAuth::Basic {
            username_hint: "your Atlassian e-mail"
        },
        "/rest/api/3/myself",
        ["GET /rest/api/3/*"],
        [],
        ["issues", "atlassian"],
        "Give --url with your own site; username: your e-mail, password: an API token."
    ),
    t!(
        "cloudflare",
        "Cloudflare",
        "https://api.cloudflare.com/client/v4",
        bearer(),
        "/user/tokens/verify",
        ["GET /*"],
        [],
        ["dns", "cdn"],
        ""
    ),
    t!(
        "digitalocean",
        "DigitalOcean",
        "https://api.digitalocean.com/v2",
        bearer(),
        "/account",
        ["GET /*"],
        [],
        ["cloud"],
        ""
    ),
    t!(
        "gitlab",
        "GitLab",
        "https://gitlab.com/api/v4",
        TemplateAuth::Header {
            name: "PRIVATE-TOKEN"
        },
        "/user",
        ["GET /*"],
        [],
        ["git", "code", "issues"],
        "Self-managed: give --url https://your-gitlab/api/v4."
    ),
    t!(
        "huggingface",
        "Hugging Face Hub",
        "https://huggingface.co/api",
        bearer(),
        "/whoami-v2",
        ["GET /*"],
        [],
        ["ml", "ai", "models"],
        ""
    ),
    t!(
        "mistral",
        "Mistral AI",
        "https://api.mistral.ai/v1",
        bearer(),
        "/models",
        ["GET /models*"],
        [],
        ["llm", "ai"],
        ""
    ),
    t!(
        "groq",
        "Groq",
        "https://api.groq.com/openai/v1",
        bearer(),
        "/models",
        ["GET /models*"],
        [],
        ["llm", "ai"],
        ""
    ),
    t!(
        "cohere",
        "Cohere",
        "https://api.cohere.com/v1",
        bearer(),
        "/models",
        ["GET /models*"],
        [],
        ["llm", "ai"],
        ""
    ),
    t!(
        "resend",
        "Resend",
        "https://api.resend.com",
        bearer(),
        "/domains",
        ["GET /*"],
        [],
        ["email"],
        ""
    ),
    t!(
        "postmark",
        "Postmark",
        "https://api.postmarkapp.com",
        TemplateAuth::Header {
            name: "X-Postmark-Server-Token"
        },
        "/server",
        ["GET /*"],
        [],
        ["email"],
        ""
    ),
    t!(
        "datadog",
        "Datadog",
        "https://api.datadoghq.com/api/v1",
        TemplateAuth::Header { name: "DD-API-KEY" },
        "/validate",
        ["GET /*"],
        [],
        ["monitoring"],
        "Most read endpoints also need DD-APPLICATION-KEY: add it with --header-from-env DD-APPLICATION-KEY=VAR."
    ),
    t!(
        "sentry",
        "Sentry",
        "https://sentry.io/api/0",
        bearer(),
        "/",
        ["GET /*"],
        [],
        ["errors", "monitoring"],
        ""
    ),
    t!(
        "vercel",
        "Vercel",
        "https://api.vercel.com",
        bearer(),
        "/v2/user",
        ["GET /*"],
        [],
        ["deploy", "hosting"],
        ""
    ),
    t!(
        "netlify",
        "Netlify",
        "https://api.netlify.com/api/v1",
        bearer(),
        "/user",
        ["GET /*"],
        [],
        ["deploy", "hosting"],
        ""
    ),
    t!(
        "shopify",
        "Shopify Admin API",
        "https://your-store.myshopify.com/admin/api/2024-10",
        TemplateAuth::Header {
            name: "X-Shopify-Access-Token"
        },
        "/shop.json",
        ["GET /*"],
        [],
        ["commerce"],
        "Give --url with your own store."
    ),
    t!(
        "hubspot",
        "HubSpot",
        "https://api.hubapi.com",
        bearer(),
        "/account-info/v3/details",
        ["GET /*"],
        [],
        ["crm", "marketing"],
        ""
    ),
    t!(
        "discord",
        "Discord (bot)",
        "https://discord.com/api/v10",
        TemplateAuth::Bearer { scheme: "Bot" },
        "/users/@me",
        ["GET /*"],
        [],
        ["chat"],
        ""
    ),
    t!(
        "google-maps",
        "Google Maps Platform",
        "https://maps.googleapis.com/maps/api",
        TemplateAuth::Query { param: "key" },
        "/geocode/json?address=London",
        ["GET /*"],
        [],
        ["maps", "google"],
        ""
    ),
    t!(
        "openweather",
        "OpenWeather",
        "https://api.openweathermap.org/data/2.5",
        TemplateAuth::Query { param: "appid" },
        "/weather?q=London",
        ["GET /*"],
        [],
        ["weather"],
        ""
    ),
    t!(
        "elevenlabs",
        "ElevenLabs",
        "https://api.elevenlabs.io/v1",
        TemplateAuth::Header { name: "xi-api-key" },
        "/user",
        ["GET /*"],
        [],
        ["voice", "ai"],
        ""
    ),
    t!(
        "brave-search",
        "Brave Search",
        "https://api.search.brave.com/res/v1",
        TemplateAuth::Header {
            name: "X-Subscription-Token"
        },
        "/web/search?q=janee",
        ["GET /*"],
        [],
        ["search"],
        ""
    ),
    t!(
        "zendesk",
        "Zendesk",
        "https://your-subdomain.zendesk.com/api/v2",
        TemplateAuth::Basic {
            username_hint: "you@example.com/token"
        },
        "/users/me.json",
        ["GET /*"],
        [],
        ["support"],
        "Give --url with your own subdomain; username: your e-mail followed by /token, password: the API token."
    ),
    t!(
        "aws-s3",
        "Amazon S3",
        "https://s3.us-east-1.amazonaws.com",
        TemplateAuth::AwsSigV4 {
            region: "us-east-1",
            service: "s3"
        },
        "/",
        ["GET /*", "HEAD /*"],
        [],
        ["aws", "storage", "files"],
        "Fields accessKeyId and secretAccessKey (and sessionToken for temporary keys): --field-from-env accessKeyId=AWS_ACCESS_KEY_ID --field-from-env secretAccessKey=AWS_SECRET_ACCESS_KEY. Another region: --url https://s3.REGION.amazonaws.com --aws-region REGION."
    ),
    t!(
        "aws-ses",
        "Amazon SES (v2)",
        "https://email.us-east-1.amazonaws.com",
        TemplateAuth::AwsSigV4 {
            region: "us-east-1",
            service: "ses"
        },
        "/v2/email/account",
        ["GET /v2/email/*"],
        [],
        ["aws", "email"],
        "Fields accessKeyId and secretAccessKey: --field-from-env accessKeyId=AWS_ACCESS_KEY_ID --field-from-env secretAccessKey=AWS_SECRET_ACCESS_KEY. Sending mail is POST /v2/email/outbound-emails: add it to the rules when the agent should send. Another region: --url https://email.REGION.amazonaws.com --aws-region REGION."
    ),
    t!(
        "github-app",
        "GitHub as a GitHub App",
        "https://api.github.com",
        TemplateAuth::GithubApp,
        "/installation/repositories",
        ["GET /*"],
        [],
        ["git", "code", "issues"],
        "Give --app-id, --installation-id and --field-from-file privateKey=APP.pem; Janee mints hour-long installation tokens. Limit a capability with `repositories:` and `permissions:`. For gh and git: --exec --allow-commands gh,git (GH_TOKEN is set)."
    ),
];

pub fn find(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

/// Templates whose name, title or tags contain `query` (case-insensitive); all when empty.
pub fn search(query: &str) -> Vec<&'static Template> {
    let q = query.trim().to_ascii_lowercase();
    TEMPLATES
        .iter()
        .filter(|t| {
            q.is_empty()
                || t.name.contains(&q)
                || t.title.to_ascii_lowercase().contains(&q)
                || t.tags.iter().any(|g| g.contains(&q))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_valid() {
        assert!(all().len() >= 25);
        let mut names = std::collections::HashSet::new();
        for t in all() {
            assert!(names.insert(t.name), "duplicate {}", t.name);
            crate::names::ServiceName::new(t.name).unwrap();
            let base = crate::config::BaseUrl::parse(t.base_url, false)
                .unwrap_or_else(|e| panic!("{}: {e}", t.name));
            let raw = t.auth.to_raw();
            assert_eq!(raw.kind, t.auth.type_name());
            if !matches!(t.auth, TemplateAuth::GithubApp) {
                // A GitHub App needs its ids from the user; every other scheme is complete.
                crate::auth::AuthKind::from_raw(&raw, base.url())
                    .unwrap_or_else(|e| panic!("{}: {e}", t.name));
            }
            crate::canon::canonicalize(t.test_path).unwrap_or_else(|e| panic!("{}: {e}", t.name));
            for r in t.allow.iter().chain(t.deny) {
                crate::canon::Rule::parse(r).unwrap_or_else(|e| panic!("{}: {r}: {e}", t.name));
            }
            // The preset is read-only unless the note says why not.
            for r in t.allow {
                assert!(
                    r.starts_with("GET ")
                        || !t.note.is_empty()
                        || r.starts_with("POST /search")
                        || r.contains("/query"),
                    "{}: {r}",
                    t.name
                );
            }
        }
    }

    #[test]
    fn search_matches_names_titles_and_tags() {
        assert_eq!(search("stripe")[0].name, "stripe");
        assert!(search("LLM").iter().any(|t| t.name == "openai"));
        assert!(search("email").len() >= 3);
        assert_eq!(search("").len(), all().len());
        assert!(search("no-such-thing").is_empty());
    }
}
