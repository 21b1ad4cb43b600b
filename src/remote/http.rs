//! Plain HTTPS downloads of presigned links (`verify https://…`): streamed, never buffered
//! whole, with an expired link told apart from other refusals.

use std::io::{self, Read};

use crate::error::RemoteError;

/// A URL as messages show it: without its query, which carries the signature.
pub fn shown(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

/// Whether `text` is an `http://` or `https://` URL.
pub fn is_url(text: &str) -> bool {
    text.starts_with("https://") || text.starts_with("http://")
}

/// A streaming GET response body.
pub struct HttpReader {
    rt: tokio::runtime::Runtime,
    resp: reqwest::Response,
    left: bytes::Bytes,
    url: String,
}

/// Starts a GET of `url`; returns the body as a reader and its length, if the server sent one.
pub fn get(url: &str) -> Result<(HttpReader, Option<u64>), RemoteError> {
    let fetch = |detail: String| RemoteError::Fetch {
        what: shown(url),
        detail,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fetch(e.to_string()))?;
    let resp = rt
        // Built inside the runtime: the request's read timeout needs its timer.
        .block_on(async { super::http_client().get(url).send().await })
        .map_err(|e| fetch(super::raw::redact(&e.without_url().to_string())))?;
    let status = resp.status();
    if !status.is_success() {
        let body = rt.block_on(resp.text()).unwrap_or_default();
        let message = between(&body, "<Message>", "</Message>").unwrap_or_default();
        let code = between(&body, "<Code>", "</Code>").unwrap_or_default();
        if message.to_ascii_lowercase().contains("expired") {
            return Err(RemoteError::LinkExpired {
                what: shown(url),
                detail: format!("{} {code}: {message}", status.as_u16()),
            });
        }
        let detail = if code.is_empty() {
            status.to_string()
        } else {
            format!("{} {code}: {message}", status.as_u16())
        };
        return Err(fetch(detail));
    }
    let len = resp.content_length();
    Ok((
        HttpReader {
            rt,
            resp,
            left: bytes::Bytes::new(),
            url: shown(url),
        },
        len,
    ))
}

/// Downloads a small document (a manifest, a signature), at most `max` bytes.
pub fn get_small(url: &str, max: u64) -> Result<Vec<u8>, RemoteError> {
    let (r, _) = get(url)?;
    let mut out = Vec::new();
    r.take(max)
        .read_to_end(&mut out)
        .map_err(|e| RemoteError::Fetch {
            what: shown(url),
            detail: e.to_string(),
        })?;
    Ok(out)
}

fn between<'a>(s: &'a str, a: &str, b: &str) -> Option<&'a str> {
    let i = s.find(a)? + a.len();
    let j = s[i..].find(b)? + i;
    Some(&s[i..j])
}

impl Read for HttpReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.left.is_empty() {
            match self.rt.block_on(self.resp.chunk()) {
                Ok(Some(c)) => self.left = c,
                Ok(None) => return Ok(0),
                Err(e) => {
                    return Err(io::Error::other(format!(
                        "reading {}: {}",
                        self.url,
                        super::raw::redact(&e.without_url().to_string())
                    )));
                }
            }
        }
        let n = buf.len().min(self.left.len());
        buf[..n].copy_from_slice(&self.left[..n]);
        self.left = self.left.slice(n..);
        Ok(n)
    }
}
