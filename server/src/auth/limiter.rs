//! Brute-force brakes: credential checks per client address and per user name, and token
//! requests per client address, each a keyed token bucket refilled per minute.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct Limiters {
    logins_by_address: DefaultKeyedRateLimiter<IpAddr>,
    logins_by_user: DefaultKeyedRateLimiter<String>,
    tokens_by_address: DefaultKeyedRateLimiter<IpAddr>,
}

fn quota(per_minute: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute.max(1)).expect("at least one"))
}

fn check<K: std::hash::Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), Duration> {
    limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
}

impl Limiters {
    #[must_use]
    pub fn new(logins_per_minute: u32, tokens_per_minute: u32) -> Self {
        Self {
            logins_by_address: RateLimiter::keyed(quota(logins_per_minute)),
            logins_by_user: RateLimiter::keyed(quota(logins_per_minute)),
            tokens_by_address: RateLimiter::keyed(quota(tokens_per_minute)),
        }
    }

    /// One credential check (password or token) by `address` for `user`; `Err` holds how long
    /// to wait.
    pub fn login(&self, address: Option<IpAddr>, user: &str) -> Result<(), Duration> {
        if let Some(address) = address {
            check(&self.logins_by_address, &address)?;
        }
        check(&self.logins_by_user, &user.to_owned())
    }

    pub fn token_request(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        address.map_or(Ok(()), |a| check(&self.tokens_by_address, &a))
    }

    /// Forgets keys whose buckets are full again (called periodically to bound memory).
    pub fn forget_idle(&self) {
        self.logins_by_address.retain_recent();
        self.logins_by_user.retain_recent();
        self.tokens_by_address.retain_recent();
    }
}
