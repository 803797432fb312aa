//! Which quota applies to a client: for each kind of limit, the most specific entry that sets
//! it, in Kafka's order (a user's entries before client ids').

use kafkatwin_config::{QuotaLimits, QuotasConfig};
use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU64;

/// The kinds of limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Produce request bytes per second.
    Produce,
    /// Fetch response bytes per second.
    Fetch,
    /// Requests per second.
    Request,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 3] = [Kind::Produce, Kind::Fetch, Kind::Request];

    /// Its metric label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Produce => "produce",
            Kind::Fetch => "fetch",
            Kind::Request => "request",
        }
    }

    /// Its field in a quota entry (`produce_byte_rate`, …).
    pub fn field(self) -> &'static str {
        match self {
            Kind::Produce => "produce_byte_rate",
            Kind::Fetch => "fetch_byte_rate",
            Kind::Request => "request_rate",
        }
    }

    /// This kind's limit in `limits`.
    pub fn of(self, limits: &QuotaLimits) -> Option<NonZeroU64> {
        match self {
            Kind::Produce => limits.produce_byte_rate,
            Kind::Fetch => limits.fetch_byte_rate,
            Kind::Request => limits.request_rate,
        }
    }
}

/// Who is metered: a user, a client id, or a client id of a user. Clients under a default
/// entry are each metered on their own, as in Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Entity {
    /// The logged-in user, when the entry is a user's.
    pub user: Option<String>,
    /// The client id, when the entry is a client id's.
    pub client: Option<String>,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.user, &self.client) {
            (Some(u), Some(c)) => write!(f, "user={u},client-id={c}"),
            (Some(u), None) => write!(f, "user={u}"),
            (None, Some(c)) => write!(f, "client-id={c}"),
            (None, None) => write!(f, "client-id="),
        }
    }
}

/// The limit of one kind that applies, and whom it meters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Whose rate is measured against it.
    pub entity: Entity,
    /// The bound per second.
    pub bound: NonZeroU64,
}

/// Finds the limit of `kind` for `user` (logged in with SASL, if at all) and `client` (its
/// client id): user and client id, the user's client default, user, the user-and-client
/// default, the user default, client id (an entry through the admin API replacing a config
/// entry of the same client id), the client default.
pub fn resolve(
    config: &QuotasConfig,
    api: &BTreeMap<String, QuotaLimits>,
    kind: Kind,
    user: Option<&str>,
    client: &str,
) -> Option<Applied> {
    let user_entity = |with_client: bool| Entity {
        user: user.map(str::to_owned),
        client: with_client.then(|| client.to_owned()),
    };
    if let Some(u) = user {
        let entry = config.users.get(u);
        let with_client = entry
            .and_then(|e| e.clients.get(client).and_then(|l| kind.of(l)))
            .or_else(|| entry.and_then(|e| kind.of(&e.default_client)));
        let own = entry.and_then(|e| kind.of(&e.limits()));
        let levels = [
            (with_client, true),
            (own, false),
            (kind.of(&config.defaults.user_client), true),
            (kind.of(&config.defaults.user), false),
        ];
        if let Some((bound, pair)) = levels.into_iter().find_map(|(b, p)| Some((b?, p))) {
            return Some(Applied {
                entity: user_entity(pair),
                bound,
            });
        }
    }
    let client_entry = api.get(client).or_else(|| config.clients.get(client));
    let bound = client_entry
        .and_then(|l| kind.of(l))
        .or_else(|| kind.of(&config.defaults.client))?;
    Some(Applied {
        entity: Entity {
            user: None,
            client: Some(client.to_owned()),
        },
        bound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafkatwin_config::UserQuotas;

    fn rate(n: u64) -> Option<NonZeroU64> {
        NonZeroU64::new(n)
    }

    fn config() -> QuotasConfig {
        let mut c = QuotasConfig::default();
        c.defaults.client.produce_byte_rate = rate(100);
        c.defaults.user.fetch_byte_rate = rate(200);
        c.clients.insert(
            "app".into(),
            QuotaLimits {
                produce_byte_rate: rate(300),
                request_rate: rate(10),
                ..Default::default()
            },
        );
        let mut alice = UserQuotas {
            produce_byte_rate: rate(400),
            ..Default::default()
        };
        alice.clients.insert(
            "app".into(),
            QuotaLimits {
                produce_byte_rate: rate(500),
                ..Default::default()
            },
        );
        c.users.insert("alice".into(), alice);
        let mut carol = UserQuotas::default();
        carol.default_client.request_rate = rate(20);
        c.users.insert("carol".into(), carol);
        c.defaults.user_client.request_rate = rate(30);
        c
    }

    fn bound(kind: Kind, user: Option<&str>, client: &str) -> Option<(String, u64)> {
        resolve(&config(), &BTreeMap::new(), kind, user, client)
            .map(|a| (a.entity.to_string(), a.bound.get()))
    }

    #[test]
    fn the_most_specific_entry_that_sets_a_kind_wins() {
        let p = Kind::Produce;
        assert_eq!(
            bound(p, Some("alice"), "app"),
            Some(("user=alice,client-id=app".into(), 500))
        );
        assert_eq!(
            bound(p, Some("alice"), "other"),
            Some(("user=alice".into(), 400))
        );
        // Bob has no entry and the user default sets no produce limit: client entries next.
        assert_eq!(
            bound(p, Some("bob"), "app"),
            Some(("client-id=app".into(), 300))
        );
        assert_eq!(
            bound(p, None, "other"),
            Some(("client-id=other".into(), 100))
        );
        // Per kind: alice's fetch limit comes from the user default.
        assert_eq!(
            bound(Kind::Fetch, Some("alice"), "app"),
            Some(("user=alice".into(), 200))
        );
        assert_eq!(bound(Kind::Fetch, None, "app"), None);
        assert_eq!(
            bound(Kind::Request, None, "app"),
            Some(("client-id=app".into(), 10))
        );
        // A user's client default, metered per client id of that user.
        assert_eq!(
            bound(Kind::Request, Some("carol"), "any"),
            Some(("user=carol,client-id=any".into(), 20))
        );
        // The default for user and client id pairs comes before client id entries.
        assert_eq!(
            bound(Kind::Request, Some("bob"), "app"),
            Some(("user=bob,client-id=app".into(), 30))
        );
    }

    #[test]
    fn an_api_entry_replaces_the_config_entry_of_its_client_id() {
        let mut api = BTreeMap::new();
        api.insert(
            "app".to_owned(),
            QuotaLimits {
                fetch_byte_rate: rate(7),
                ..Default::default()
            },
        );
        let c = config();
        let r = |k| resolve(&c, &api, k, None, "app").map(|a| a.bound.get());
        assert_eq!(r(Kind::Fetch), Some(7));
        // The config entry's produce and request limits are replaced, not merged: the
        // produce limit falls back to the client default, the request limit to none.
        assert_eq!(r(Kind::Produce), Some(100));
        assert_eq!(r(Kind::Request), None);
    }
}
