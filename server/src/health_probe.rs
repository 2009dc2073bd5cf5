//! `sherpack-registry healthcheck`: one plain-HTTP GET with the standard library, so the
//! container image needs no curl.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::Duration;

/// `/readyz` of a server listening on `listen`, reached over loopback when it listens on every
/// address.
#[must_use]
pub fn readiness_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/readyz", SocketAddr::new(ip, listen.port()))
}

/// True when `url` (`http://host:port/path`) answers with status 200 within 5 seconds.
#[must_use]
pub fn probe(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        eprintln!("healthcheck: only http:// URLs are supported");
        return false;
    };
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let timeout = Duration::from_secs(5);
    let Some(addr) = authority.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        eprintln!("healthcheck: cannot resolve {authority}");
        return false;
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        eprintln!("healthcheck: cannot connect to {authority}");
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).unwrap_or(0);
    let status_line = String::from_utf8_lossy(&head[..n]);
    let ok = status_line.split_whitespace().nth(1) == Some("200");
    if !ok {
        eprintln!("healthcheck: {url} answered {}", status_line.lines().next().unwrap_or("nothing"));
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::readiness_url;

    #[test]
    fn the_readiness_url_follows_the_listen_address() {
        assert_eq!(readiness_url("0.0.0.0:5050".parse().unwrap()), "http://127.0.0.1:5050/readyz");
        assert_eq!(readiness_url("[::]:6000".parse().unwrap()), "http://[::1]:6000/readyz");
        assert_eq!(readiness_url("10.1.2.3:80".parse().unwrap()), "http://10.1.2.3:80/readyz");
    }
}
