//! Caps on client connections: in all (`server.max_connections`) and per IP address
//! (`server.max_connections_per_ip`). A connection over a cap is closed at once with one log
//! line; the others are not affected.

use crate::base::sync::lock;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open client connections, in all and by IP address.
pub struct ConnLimits {
    max: u32,
    max_per_ip: u32,
    open: Mutex<(u32, HashMap<IpAddr, u32>)>,
}

/// One admitted connection; counted until dropped.
pub struct Admitted {
    limits: Arc<ConnLimits>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = lock(&self.limits.open);
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OverCap {
    /// `server.max_connections` reached.
    #[error("{0} client connections are open (server.max_connections)")]
    Total(u32),
    /// `server.max_connections_per_ip` reached for this address.
    #[error("{1} client connections are open from {0} (server.max_connections_per_ip)")]
    PerIp(IpAddr, u32),
}

impl ConnLimits {
    /// Caps of `max` in all and `max_per_ip` per address.
    pub fn new(max: u32, max_per_ip: u32) -> Arc<Self> {
        Arc::new(Self {
            max,
            max_per_ip,
            open: Mutex::default(),
        })
    }

    /// Counts a new connection from `ip`, unless a cap is reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, OverCap> {
        let mut open = lock(&self.open);
        if open.0 >= self.max {
            return Err(OverCap::Total(open.0));
        }
        let from_ip = open.1.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.max_per_ip {
            return Err(OverCap::PerIp(ip, from_ip));
        }
        open.0 += 1;
        *open.1.entry(ip).or_default() += 1;
        Ok(Admitted {
            limits: self.clone(),
            ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_in_all_and_per_address_and_free_on_close() {
        let limits = ConnLimits::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let a1 = limits.admit(a).expect("first");
        let _a2 = limits.admit(a).expect("second");
        assert_eq!(limits.admit(a).err(), Some(OverCap::PerIp(a, 2)));
        let _b1 = limits.admit(b).expect("other address");
        assert_eq!(limits.admit(b).err(), Some(OverCap::Total(3)));
        drop(a1);
        assert!(
            limits.admit(a).is_ok(),
            "a closed connection frees its place"
        );
    }
}
