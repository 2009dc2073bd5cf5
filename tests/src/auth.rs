//! A registry with authentication on, populated through its admin API: namespaces `team`
//! (private) and `pub` (public) and `other` (private), users with each role, robot tokens with
//! each scope, an expired and a revoked token.

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

use crate::server::{ServerOptions, ServerProcess};

pub const ADMIN: (&str, &str) = ("root", "root-password");
pub const PASSWORD: &str = "a-good-password";

/// Environment that turns authentication on with the `ADMIN` user.
#[must_use]
pub fn admin_env() -> Vec<(String, String)> {
    vec![
        ("SHERPACK_REGISTRY_AUTH__ADMIN_USER".into(), ADMIN.0.into()),
        ("SHERPACK_REGISTRY_AUTH__ADMIN_PASSWORD".into(), ADMIN.1.into()),
    ]
}

/// How a request authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cred {
    Anonymous,
    Basic(String, String),
    Bearer(String),
}

impl Cred {
    #[must_use]
    pub fn user(name: &str) -> Self {
        Cred::Basic(name.into(), PASSWORD.into())
    }

    #[must_use]
    pub fn admin() -> Self {
        Cred::Basic(ADMIN.0.into(), ADMIN.1.into())
    }

    pub fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Cred::Anonymous => request,
            Cred::Basic(u, p) => request.basic_auth(u, Some(p)),
            Cred::Bearer(t) => request.bearer_auth(t),
        }
    }
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    #[must_use]
    pub fn new(base: &str) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), http: reqwest::Client::new() }
    }

    pub async fn send(&self, cred: &Cred, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut request = cred.apply(self.http.request(method, format!("{}{path}", self.base)));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// Sends and asserts the status; returns the JSON body (or `Null`).
    pub async fn expect(&self, cred: &Cred, method: Method, path: &str, body: Option<Value>, status: u16) -> Value {
        let response = self.send(cred, method.clone(), path, body).await;
        let got = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{method} {path} as {cred:?}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn create_token(&self, cred: &Cred, body: Value) -> String {
        let created = self.expect(cred, Method::POST, "/api/v1/tokens", Some(body), 201).await;
        created["token"].as_str().unwrap().to_owned()
    }
}

/// The populated registry and the credentials of every kind of caller.
pub struct Tenants {
    pub server: ServerProcess,
    pub api: Api,
    pub robot_pull: String,
    pub robot_push: String,
    pub robot_delete: String,
    pub robot_admin: String,
    pub expired: String,
    pub revoked: String,
}

impl Tenants {
    pub async fn start(mut options: ServerOptions) -> Self {
        options.env.extend(admin_env());
        // Tests make many failed logins on purpose; the brute-force limit has its own test.
        options.env.push(("SHERPACK_REGISTRY_AUTH__LOGIN_ATTEMPTS_PER_MINUTE".into(), "100000".into()));
        let server = ServerProcess::start(options);
        let api = Api::new(&server.url);
        let admin = Cred::admin();
        for (ns, visibility) in [("team", "private"), ("pub", "public"), ("other", "private")] {
            api.expect(&admin, Method::POST, "/api/v1/namespaces", Some(json!({ "name": ns, "visibility": visibility })), 201).await;
        }
        for user in ["alice", "walt", "rita", "otto"] {
            api.expect(&admin, Method::POST, "/api/v1/users", Some(json!({ "name": user, "password": PASSWORD })), 201).await;
        }
        for (ns, user, role) in [("team", "alice", "admin"), ("team", "walt", "writer"), ("team", "rita", "reader"), ("other", "otto", "admin")] {
            api.expect(&admin, Method::PUT, &format!("/api/v1/namespaces/{ns}/members/{user}"), Some(json!({ "role": role })), 200).await;
        }
        // Robot tokens are made by the namespace admin, not the registry admin.
        let alice = Cred::user("alice");
        let robot = |scope: &str| json!({ "name": format!("ci-{scope}"), "scopes": [scope], "namespace": "team" });
        let robot_pull = api.create_token(&alice, robot("pull")).await;
        let robot_push = api.create_token(&alice, robot("push")).await;
        let robot_delete = api.create_token(&alice, robot("delete")).await;
        let robot_admin = api.create_token(&alice, robot("admin")).await;
        let walt = Cred::user("walt");
        let expired = api.create_token(&walt, json!({ "name": "old", "scopes": ["pull", "push"], "expires_in_days": 0 })).await;
        let revoked = api.create_token(&walt, json!({ "name": "leaked", "scopes": ["pull", "push"] })).await;
        let listed = api.expect(&walt, Method::GET, "/api/v1/tokens", None, 200).await;
        let id = listed.as_array().unwrap().iter().find(|t| t["name"] == "leaked").unwrap()["id"].as_str().unwrap().to_owned();
        api.expect(&walt, Method::DELETE, &format!("/api/v1/tokens/{id}"), None, 204).await;
        Self { server, api, robot_pull, robot_push, robot_delete, robot_admin, expired, revoked }
    }
}
