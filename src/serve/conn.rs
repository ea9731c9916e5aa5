//! Connection guards of `orgctl serve`: the limits a client cannot hold the
//! server past. It owns the connection count (over [`Limits::max_connections`]
//! a new connection is closed at once, so idle or slow clients cannot use up
//! the process's file descriptors), the TLS handshake bound, and the JSON body
//! of the answers hyper writes by itself for a request it cannot parse (400,
//! 414, 431 arrive from hyper with an empty body; every error of the API is
//! JSON). Header and idle timeouts are hyper's (`header_read_timeout`, set in
//! [`super::run`]); the body timeout is [`super::body::json`]'s. It must not
//! look at requests.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The server's connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time a connection gets to send a whole request head, counted from its
    /// start or from the end of its previous answer (so it is also how long a
    /// kept-alive connection may sit idle).
    pub header_timeout: Duration,
    /// Time a request gets to send its whole body.
    pub body_timeout: Duration,
    /// Connections served at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Largest request body read, in bytes (413 above it).
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_body: crate::backend::http::wire::MAX_BODY,
        }
    }
}

/// An acceptor that counts connections and bounds the inner acceptor (TLS).
#[derive(Clone)]
pub(crate) struct Guard<A> {
    inner: A,
    permits: Arc<Semaphore>,
    max: usize,
    handshake: Duration,
}

impl<A> Guard<A> {
    /// Guards `inner` with `limits`.
    pub(crate) fn new(inner: A, limits: &Limits) -> Self {
        Guard {
            inner,
            permits: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            max: limits.max_connections.max(1),
            handshake: limits.header_timeout,
        }
    }
}

impl<A, I, S> Accept<I, S> for Guard<A>
where
    A: Accept<I, S> + Clone + Send + 'static,
    A::Future: Send + 'static,
    A::Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Guarded<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let permit = self.permits.clone().try_acquire_owned();
        let Ok(permit) = permit else {
            tracing::warn!(
                limit = self.max,
                "connection limit reached: closing a new connection"
            );
            drop(stream);
            return Box::pin(std::future::ready(Err(io::Error::other(
                "connection limit reached",
            ))));
        };
        let handshake = self.handshake;
        let inner = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = tokio::time::timeout(handshake, inner)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake timed out"))??;
            Ok((Guarded::new(stream, permit, handshake), service))
        })
    }
}

/// A served connection: holds its slot until dropped, closes a connection
/// whose first byte does not come within the header timeout (hyper's own
/// timer starts only once a connection has sent something), and gives
/// hyper's bodiless parse-error answers the API's JSON body.
pub(crate) struct Guarded<S> {
    inner: S,
    _permit: OwnedSemaphorePermit,
    /// Until the first byte arrives: when to give up on it.
    first_byte: Option<Pin<Box<tokio::time::Sleep>>>,
    /// A replacement answer still being written.
    pending: Vec<u8>,
    /// Bytes of hyper's own answer reported written while `pending` drains.
    swallowed: usize,
}

impl<S> Guarded<S> {
    fn new(inner: S, permit: OwnedSemaphorePermit, first_byte: Duration) -> Self {
        Guarded {
            inner,
            _permit: permit,
            first_byte: Some(Box::pin(tokio::time::sleep(first_byte))),
            pending: Vec::new(),
            swallowed: 0,
        }
    }
}

/// The JSON answer replacing a bodiless one hyper wrote for a request it
/// could not parse; `None` for anything else.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(head.get(..end)?).ok()?;
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    let empty = text
        .split("\r\n")
        .any(|line| line.eq_ignore_ascii_case("content-length: 0"));
    if !empty || end + 4 != head.len() {
        return None;
    }
    let (reason, code, message) = match status {
        "400" => (
            "Bad Request",
            "malformed_request",
            "the request is not valid HTTP/1.1",
        ),
        "414" => ("URI Too Long", "uri_too_long", "the request target is too long"),
        "431" => (
            "Request Header Fields Too Large",
            "headers_too_large",
            "the request headers are too large",
        ),
        _ => return None,
    };
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => {
                let expired = this
                    .first_byte
                    .as_mut()
                    .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if expired {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request arrived in time",
                    )))
                } else {
                    Poll::Pending
                }
            }
            ready => {
                if buf.filled().len() > before {
                    this.first_byte = None;
                }
                ready
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> Guarded<S> {
    /// Writes what is left of a replacement answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_empty() && this.swallowed == 0 {
            if let Some(answer) = replacement(buf) {
                this.pending = answer;
                this.swallowed = buf.len();
            }
        }
        if this.swallowed > 0 {
            std::task::ready!(this.drain(cx))?;
            return Poll::Ready(Ok(std::mem::take(&mut this.swallowed)));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::replacement;

    #[test]
    fn only_hyper_s_bodiless_parse_error_answers_are_replaced() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 22:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(replacement(hyper_431).expect("replaced")).expect("utf8");
        assert!(
            answer.starts_with(
                "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            ),
            "{answer}"
        );
        assert!(
            answer.ends_with(
                r#"{"error":{"code":"headers_too_large","message":"the request headers are too large"}}"#
            ),
            "{answer}"
        );
        // The API's own answers carry a body and are left alone.
        assert!(replacement(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 50\r\n\r\n"
        )
        .is_none());
        assert!(replacement(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(replacement(b"{\"partial\": 1}").is_none());
    }
}
