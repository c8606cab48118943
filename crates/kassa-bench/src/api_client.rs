//! A small JSON client of the kassa API, for seeding and the order fixtures.

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::Value;

/// A small JSON client for seeding.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.with_context(|| format!("{method} {path}"))?;
        let status = res.status();
        let bytes = res.bytes().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).with_context(|| format!("{method} {path}: not JSON"))?
        })
    }

    pub(crate) async fn token(&self, form: &[(&str, &str)]) -> anyhow::Result<String> {
        let res = self
            .http
            .post(format!("{}/oauth/access_token", self.base))
            .form(form)
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await?;
        match body["access_token"].as_str() {
            Some(t) if status.is_success() => Ok(t.to_owned()),
            _ => bail!("token request failed: {status}: {body}"),
        }
    }

    pub(crate) async fn create(&self, token: &str, path: &str, body: Value) -> anyhow::Result<String> {
        let r = self.send(Method::POST, path, Some(token), Some(body)).await?;
        id(&r, path)
    }
}

pub(crate) fn id(r: &Value, what: &str) -> anyhow::Result<String> {
    r["data"]["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{what}: no data.id in {r}"))
}
