//! A tiny HTTP/1.0 GET for the health, metrics and admin endpoints.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// GETs `path` from `127.0.0.1:port`; returns the status code and body.
pub fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    send(port, "GET", path, "")
}

/// Sends `method path` with a JSON `body`; returns the status code and body.
pub fn send(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    send_bytes(port, method, path, "application/json", body.as_bytes())
}

/// Sends `method path` with a JSON `body` and extra header lines (each ending in `\r\n`).
pub fn send_with_headers(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    headers: &str,
) -> std::io::Result<(u16, String)> {
    send_raw(
        port,
        method,
        path,
        "application/json",
        body.as_bytes(),
        headers,
    )
}

/// Sends `method path` with a `body` of `content_type`; returns the status code and body.
pub fn send_bytes(
    port: u16,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    send_raw(port, method, path, content_type, body, "")
}

/// GETs `path` and returns the value of response header `name`, if sent.
pub fn get_header(port: u16, path: &str, name: &str) -> std::io::Result<Option<String>> {
    exchange(port, "GET", path, "application/json", b"", "")
        .map(|(_, head, _)| header_in(&head, name))
}

/// Sends `method path` with a JSON `body` and extra header lines; returns the status code,
/// the value of response header `name` (if sent) and the body.
pub fn send_reading_header(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    headers: &str,
    name: &str,
) -> std::io::Result<(u16, Option<String>, String)> {
    exchange(
        port,
        method,
        path,
        "application/json",
        body.as_bytes(),
        headers,
    )
    .map(|(status, head, body)| (status, header_in(&head, name), body))
}

/// The value of header `name` in a response head, if sent.
pub fn header_in(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

fn send_raw(
    port: u16,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
    headers: &str,
) -> std::io::Result<(u16, String)> {
    exchange(port, method, path, content_type, body, headers)
        .map(|(status, _, body)| (status, body))
}

/// One request with a `body` of `content_type` and extra header lines (each ending in
/// `\r\n`); the status code, the response head and the body.
pub fn exchange(
    port: u16,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
    headers: &str,
) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let resp = String::from_utf8_lossy(&raw).into_owned();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .map(|(h, b)| (h.to_owned(), b.to_owned()))
        .unwrap_or_default();
    Ok((status, head, body))
}
