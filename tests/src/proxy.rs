//! A TCP proxy in front of a backend (Postgres, the S3 server) that a test can break in the two
//! ways backends fail: `Refuse` (new connections dropped, open ones cut: a stopped server) and
//! `Hang` (connections accepted, nothing forwarded either way until the fault ends: a paused
//! process, a network that drops packets). When the fault ends, held bytes go through.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Refuse,
    Hang,
}

pub struct Proxy {
    /// `127.0.0.1:PORT`
    pub address: String,
    fault: watch::Sender<Fault>,
}

impl Proxy {
    /// Forwards connections to `target` (`host:port`) from a free loopback port.
    pub async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (fault, watch) = watch::channel(Fault::None);
        let target = target.to_owned();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                if *watch.borrow() == Fault::Refuse {
                    drop(client);
                    continue;
                }
                let (target, watch) = (target.clone(), watch.clone());
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(&target).await else { return };
                    let _ = (client.set_nodelay(true), server.set_nodelay(true));
                    let ((client_read, client_write), (server_read, server_write)) = (client.into_split(), server.into_split());
                    tokio::join!(pump(client_read, server_write, watch.clone()), pump(server_read, client_write, watch));
                });
            }
        });
        Self { address, fault }
    }

    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }

    /// `url` (`scheme://[user@]host:port/...`) with its host and port replaced by the proxy's.
    #[must_use]
    pub fn url_through(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let (user, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        let at = if user.is_empty() { String::new() } else { format!("{user}@") };
        format!("{scheme}://{at}{}{path}", self.address)
    }
}

/// Waits until the fault satisfies `condition` (or the proxy is gone).
async fn until(fault: &mut watch::Receiver<Fault>, condition: impl Fn(Fault) -> bool) {
    let _ = fault.wait_for(|f| condition(*f)).await.map(|_| ());
}

/// Copies one direction until either side closes or the fault is `Refuse`; holds the bytes
/// while it is `Hang`.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut fault: watch::Receiver<Fault>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    let _ = to.shutdown().await;
                    return;
                }
                Ok(n) => n,
            },
            () = until(&mut fault, |f| f == Fault::Refuse) => return,
        };
        until(&mut fault, |f| f != Fault::Hang).await;
        if *fault.borrow() == Fault::Refuse {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
