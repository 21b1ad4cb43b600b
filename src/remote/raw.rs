//! The S3 calls OpenDAL does not make, signed with reqsign (the signer OpenDAL itself uses,
//! with the same credential chain): listing and aborting multipart uploads by id (another
//! process's, killed half way), and reading an object version's Object Lock state.

use reqsign_aws_v4::{DefaultCredentialProvider, RequestSigner};
use reqsign_core::{Context, OsEnv, Signer};
use reqsign_file_read_tokio::TokioFileRead;
use serde::Deserialize;

use super::{Lock, PendingUpload};
use crate::error::RemoteError;

/// The region of the environment: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`
/// (what most S3-compatible services accept, and the AWS CLI's own fallback for S3).
pub(super) fn region() -> String {
    std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".to_string())
}

/// The endpoint OpenDAL uses too: `AWS_ENDPOINT_URL` (or its older spellings), else AWS's
/// regional endpoint. Requests are path-style, as OpenDAL's default.
fn endpoint(region: &str) -> String {
    ["AWS_ENDPOINT_URL", "AWS_ENDPOINT", "AWS_S3_ENDPOINT"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.is_empty()))
        .map(|e| e.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"))
}

/// Percent-encodes a key for a URL path: every byte but the unreserved ones and `/`.
pub(super) fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Cuts the query off every URL-like word of `m` that carries a signature or a credential.
pub(crate) fn redact(m: &str) -> String {
    m.split(' ')
        .map(|w| {
            if w.contains("X-Amz-") || w.contains("x-amz-") {
                w.split('?').next().unwrap_or("").to_string() + "?…"
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) struct Raw {
    bucket: String,
    endpoint: String,
    signer: Signer<reqsign_aws_v4::Credential>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListUploads {
    #[serde(default)]
    upload: Vec<Upload>,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_upload_id_marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Upload {
    key: String,
    upload_id: String,
    #[serde(default)]
    initiated: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct S3Error {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl Raw {
    pub(super) fn new(bucket: &str, region: &str) -> Raw {
        let ctx = Context::new().with_file_read(TokioFileRead).with_env(OsEnv);
        Raw {
            bucket: bucket.to_string(),
            endpoint: endpoint(region),
            signer: Signer::new(
                ctx,
                DefaultCredentialProvider::new(),
                RequestSigner::new("s3", region),
            ),
            http: super::http_client(),
        }
    }

    /// Signs and sends one request; returns status, headers and body.
    async fn send(
        &self,
        method: http::Method,
        url: &str,
        key: &str,
        action: super::Action,
    ) -> Result<(http::StatusCode, http::HeaderMap, String), RemoteError> {
        let service = |detail: String| RemoteError::Service {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            action: action.verb(),
            detail,
        };
        let mut parts = http::Request::builder()
            .method(method.clone())
            .uri(url)
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .body(())
            .map_err(|e| service(e.to_string()))?
            .into_parts()
            .0;
        self.signer
            .sign(&mut parts, None)
            .await
            .map_err(|e| RemoteError::Credentials {
                bucket: self.bucket.clone(),
                action: action.verb(),
                detail: redact(&e.to_string()),
            })?;
        let mut rb = self.http.request(method, parts.uri.to_string());
        for (k, v) in &parts.headers {
            rb = rb.header(k, v);
        }
        let r = rb
            .send()
            .await
            .map_err(|e| service(redact(&e.to_string())))?;
        let status = r.status();
        let headers = r.headers().clone();
        let body = r
            .text()
            .await
            .map_err(|e| service(redact(&e.to_string())))?;
        if status == http::StatusCode::FORBIDDEN || status == http::StatusCode::UNAUTHORIZED {
            let e: Option<S3Error> = quick_xml::de::from_str(&body).ok();
            return Err(RemoteError::Credentials {
                bucket: self.bucket.clone(),
                action: action.verb(),
                detail: e.map_or_else(
                    || status.to_string(),
                    |e| format!("{}: {}", e.code, e.message),
                ),
            });
        }
        Ok((status, headers, body))
    }

    fn failed(
        &self,
        key: &str,
        action: super::Action,
        status: http::StatusCode,
        body: &str,
    ) -> RemoteError {
        let e: Option<S3Error> = quick_xml::de::from_str(body).ok();
        RemoteError::Service {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            action: action.verb(),
            detail: e.map_or_else(
                || status.to_string(),
                |e| format!("{} {}: {}", status.as_u16(), e.code, e.message),
            ),
        }
    }

    pub(super) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(super) async fn uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>, RemoteError> {
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut url = format!(
                "{}/{}?uploads&prefix={}",
                self.endpoint,
                encode(&self.bucket, false),
                encode(prefix, false)
            );
            if let Some((k, u)) = &markers {
                url.push_str(&format!(
                    "&key-marker={}&upload-id-marker={}",
                    encode(k, false),
                    encode(u, false)
                ));
            }
            let (status, _, body) = self
                .send(http::Method::GET, &url, prefix, super::Action::List)
                .await?;
            if !status.is_success() {
                return Err(self.failed(prefix, super::Action::List, status, &body));
            }
            let l: ListUploads =
                quick_xml::de::from_str(&body).map_err(|e| RemoteError::Service {
                    bucket: self.bucket.clone(),
                    key: prefix.to_string(),
                    action: "list",
                    detail: format!("unreadable answer: {e}"),
                })?;
            out.extend(
                l.upload
                    .into_iter()
                    .filter(|u| u.key.starts_with(prefix))
                    .map(|u| PendingUpload {
                        key: u.key,
                        upload_id: u.upload_id,
                        initiated: u.initiated,
                    }),
            );
            match (l.is_truncated, l.next_key_marker, l.next_upload_id_marker) {
                (true, Some(k), Some(u)) => markers = Some((k, u)),
                _ => return Ok(out),
            }
        }
    }

    pub(super) async fn abort(&self, key: &str, upload_id: &str) -> Result<(), RemoteError> {
        let url = format!(
            "{}/{}/{}?uploadId={}",
            self.endpoint,
            encode(&self.bucket, false),
            encode(key, true),
            encode(upload_id, false)
        );
        let (status, _, body) = self
            .send(http::Method::DELETE, &url, key, super::Action::Delete)
            .await?;
        if status.is_success() || status == http::StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(self.failed(key, super::Action::Delete, status, &body))
        }
    }

    pub(super) async fn lock(
        &self,
        key: &str,
        version: Option<&str>,
        now: &str,
    ) -> Result<Option<Lock>, RemoteError> {
        let mut url = format!(
            "{}/{}/{}",
            self.endpoint,
            encode(&self.bucket, false),
            encode(key, true)
        );
        if let Some(v) = version {
            url.push_str(&format!("?versionId={}", encode(v, false)));
        }
        let (status, headers, body) = self
            .send(http::Method::HEAD, &url, key, super::Action::Read)
            .await?;
        if status == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        // A delete marker answers HEAD with 405; it carries no data and no lock.
        if status == http::StatusCode::METHOD_NOT_ALLOWED {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.failed(key, super::Action::Read, status, &body));
        }
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retention = match (
            h("x-amz-object-lock-mode"),
            h("x-amz-object-lock-retain-until-date"),
        ) {
            (Some(mode), Some(until)) if in_future(&until, now) => Some((mode, until)),
            _ => None,
        };
        let legal_hold =
            h("x-amz-object-lock-legal-hold").is_some_and(|v| v.eq_ignore_ascii_case("ON"));
        Ok((retention.is_some() || legal_hold).then_some(Lock {
            retention,
            legal_hold,
        }))
    }
}

/// Whether the RFC 3339 time `until` is after `now`; an unreadable date counts as in force
/// (a lock we cannot read is never assumed to have expired).
fn in_future(until: &str, now: &str) -> bool {
    let p = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    };
    match (p(until), p(now)) {
        (Some(u), Some(n)) => u > n,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_and_secrets_redacted() {
        assert_eq!(encode("a b/ü+x", true), "a%20b/%C3%BC%2Bx");
        assert_eq!(encode("a/b", false), "a%2Fb");
        let m = redact("GET http://h/b/k?X-Amz-Signature=abc failed");
        assert!(!m.contains("abc"), "{m}");
        assert!(m.contains("http://h/b/k"), "{m}");
    }

    #[test]
    fn lock_dates_in_the_past_have_expired() {
        assert!(in_future("2030-01-01T00:00:00Z", "2026-12-02T00:00:00Z"));
        assert!(!in_future("2020-01-01T00:00:00Z", "2026-12-02T00:00:00Z"));
        assert!(in_future("garbage", "2026-12-02T00:00:00Z"));
    }
}
