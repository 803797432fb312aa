//! Client quotas with Kafka's semantics: byte rates for produce and fetch and a request rate,
//! per client id, user, or user and client id, measured over a sliding window. A client over
//! its rate is answered at once with `throttle_time_ms` set, and its connection is not read
//! again until that time has passed (clients need not back off by themselves).
//!
//! Each instance meters the connections it serves, as each Kafka broker does: a client spread
//! over N instances may get up to N times its quota. Limits set through the admin API are
//! control state (every instance applies them, they survive restarts).

pub mod entity;
pub mod window;

use crate::base::change_error::ChangeError;
use crate::base::metrics::Metrics;
pub use crate::base::origin::Origin;
use crate::base::sync::{lock, read, write};
use crate::control::control_log::Keeping;
use bytes::Bytes;
use entity::{Applied, Entity, Kind};
use kafkatwin_config::{QuotaLimits, QuotasConfig};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};
use window::{Rate, SAMPLE_MS, SAMPLES};

/// Control-log key prefix of the limits set through the admin API, per client id.
use crate::control::keys::Key;

/// The control-log key of `client`'s quota.
fn quota_key(client: &str) -> String {
    Key::Quota {
        client_id: client.to_owned(),
    }
    .to_string()
}

/// Longest throttle for a byte rate: the whole window.
const MAX_BYTES_THROTTLE_MS: u64 = SAMPLES as u64 * SAMPLE_MS;
/// Longest throttle for the request rate: one sample (as Kafka's request quota).
const MAX_REQUEST_THROTTLE_MS: u64 = SAMPLE_MS;
/// Meters kept for entities no connection uses any more, before they are dropped.
const IDLE_METERS: usize = 10_000;

/// Which default an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultOf {
    /// Each client id without an entry (of a user, when the entry names one).
    Client,
    /// Each logged-in user without an entry.
    User,
    /// Each user and client id pair without an entry.
    UserClient,
}

/// One quota entry, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaEntry {
    /// Whom it applies to; for a default entry, the user it is the client default of, if
    /// any.
    pub entity: Entity,
    /// Set for a default entry.
    pub default_of: Option<DefaultOf>,
    /// The limits.
    pub limits: QuotaLimits,
    /// Where it comes from.
    pub origin: Origin,
    /// Its version (control-log offset), for entries set through the API.
    pub version: Option<i64>,
}

/// One entity's rate of one kind, shared by its connections on this instance.
pub struct Meter {
    rate: Mutex<Rate>,
    bytes: Option<prometheus::IntCounter>,
    throttle: prometheus::Counter,
}

/// The limits that apply to one connection's client id and user.
struct Resolved {
    generation: u64,
    client: String,
    limits: Vec<(Kind, Arc<Meter>, f64)>,
}

/// A client connection's quota state.
#[derive(Default)]
pub struct ClientQuota {
    user: OnceLock<String>,
    paused_until: Mutex<Option<Instant>>,
    resolved: Mutex<Option<Arc<Resolved>>>,
    /// Admits one request of the connection at a time while it has a quota (see
    /// [`Quotas::admit`]).
    turn: tokio::sync::Mutex<()>,
}

impl ClientQuota {
    /// Meters this connection as `principal` from now on (after a SASL login). Quota
    /// entries name the principal without its type, as Kafka's do: `User:alice` is `alice`.
    pub fn logged_in(&self, principal: &str) {
        let name = principal.strip_prefix("User:").unwrap_or(principal);
        let _ = self.user.set(name.to_owned());
    }

    /// The principal's name the connection logged in as (its certificate's, or its SASL
    /// login's), if any.
    pub fn user(&self) -> Option<&str> {
        self.user.get().map(String::as_str)
    }

    /// How long the connection must not be read yet, if it is throttled.
    pub fn paused_for(&self) -> Option<Duration> {
        let until = (*lock(&self.paused_until))?;
        until.checked_duration_since(Instant::now())
    }

    fn pause(&self, ms: u64) {
        let until = Instant::now() + crate::base::timing::from_ms(ms);
        let mut p = lock(&self.paused_until);
        if p.is_none_or(|t| t < until) {
            *p = Some(until);
        }
    }
}

/// One request's accounting: what it was charged, and the throttle it earned.
pub struct Charge {
    resolved: Arc<Resolved>,
    throttle_ms: AtomicU64,
}

impl Charge {
    fn limit(&self, kind: Kind) -> Option<(&Meter, f64)> {
        self.resolved
            .limits
            .iter()
            .find(|(k, ..)| *k == kind)
            .map(|(_, m, b)| (m.as_ref(), *b))
    }

    /// Counts `value` against `kind`'s limit; returns the throttle it calls for (0 when
    /// within it or when no limit of that kind applies). With `refund_if_over`, a value that
    /// puts the client over its limit is taken back (a fetch answered without its records).
    fn record(&self, kind: Kind, value: f64, now: u64, refund_if_over: bool) -> u64 {
        let Some((meter, bound)) = self.limit(kind) else {
            return 0;
        };
        let max = match kind {
            Kind::Request => MAX_REQUEST_THROTTLE_MS,
            _ => MAX_BYTES_THROTTLE_MS,
        };
        let ms = {
            let mut rate = lock(&meter.rate);
            rate.record(value, now);
            let ms = rate.throttle_ms(bound, now, max);
            if ms > 0 && refund_if_over {
                rate.record(-value, now);
            }
            ms
        };
        if let Some(b) = &meter.bytes
            && (ms == 0 || !refund_if_over)
        {
            b.inc_by(value as u64);
        }
        if ms > 0 {
            meter.throttle.inc_by(ms as f64 / 1000.0);
            self.throttle_ms.fetch_max(ms, Ordering::Relaxed);
        }
        ms
    }

    /// The most a fetch may return without exceeding the fetch quota on its own: what the
    /// quota allows over the window (as Kafka caps `max_bytes`).
    pub fn fetch_cap(&self) -> Option<i32> {
        let (_, bound) = self.limit(Kind::Fetch)?;
        let cap = bound * ((SAMPLES as u64 - 1) * SAMPLE_MS) as f64 / 1000.0;
        Some(cap.clamp(1.0, f64::from(i32::MAX)) as i32)
    }

    /// How many bytes of fetch answer the fetch quota has room for now (`None`: no fetch
    /// quota), and whether nothing is counted in its window (then an answer's first batch
    /// goes even when larger, or a client could never read a batch larger than its room).
    pub fn fetch_room(&self, clock: &Clock) -> Option<(usize, bool)> {
        let (meter, bound) = self.limit(Kind::Fetch)?;
        let mut rate = lock(&meter.rate);
        let (room, empty) = rate.room(bound, clock.now_ms());
        Some((room.max(0.0) as usize, empty))
    }

    /// Charges a fetch answer of `bytes`. `true` when the client is over its fetch quota:
    /// the answer must then carry no records (they are not counted, and the client reads
    /// them again after its throttle).
    pub fn fetch_throttled(&self, bytes: usize, clock: &Clock) -> bool {
        self.record(Kind::Fetch, bytes as f64, clock.now_ms(), true) > 0
    }

    /// The throttle this request earned so far, in ms.
    pub fn throttle_ms(&self) -> u64 {
        self.throttle_ms.load(Ordering::Relaxed)
    }
}

/// Milliseconds since the proxy started: the quotas' clock.
pub struct Clock(Instant);

impl Clock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The quota entries (config and admin API) and the meters of the entities they apply to.
pub struct Quotas {
    config: QuotasConfig,
    api: RwLock<BTreeMap<String, QuotaLimits>>,
    /// Log offset of the entry last applied per key (its version); older replays are ignored.
    applied: Mutex<BTreeMap<String, i64>>,
    meters: Mutex<HashMap<(Kind, Entity), Arc<Meter>>>,
    /// Bumped on every change, so connections resolve their limits again.
    generation: AtomicU64,
    /// Whether any entry exists: without one, requests are not metered at all.
    active: AtomicBool,
    log: Keeping,
    /// Held from reading an entry to storing its change (see `RuleBook`).
    changing: tokio::sync::Mutex<()>,
    metrics: Metrics,
    /// The clock rates are measured on.
    pub clock: Clock,
}

fn has_any(c: &QuotasConfig) -> bool {
    !c.clients.values().all(QuotaLimits::is_empty)
        || !c.users.is_empty()
        || !c.defaults.client.is_empty()
        || !c.defaults.user.is_empty()
        || !c.defaults.user_client.is_empty()
}

impl Quotas {
    /// The quotas of `config`, counted in `metrics`.
    pub fn new(config: QuotasConfig, metrics: Metrics, log: Keeping) -> Self {
        Self {
            active: AtomicBool::new(has_any(&config)),
            config,
            api: RwLock::default(),
            applied: Mutex::default(),
            meters: Mutex::default(),
            generation: AtomicU64::new(0),
            log,
            changing: tokio::sync::Mutex::default(),
            metrics,
            clock: Clock(Instant::now()),
        }
    }

    /// Admits a request from `client_id` on `conn` (`frame_len` bytes; `produce` for a
    /// Produce) and charges it: one request, and its bytes when it is a Produce. `None` when
    /// no quota applies to the client.
    ///
    /// Requests of a throttled connection wait here until the throttle has passed, one at a
    /// time: a client pipelines, and requests it sent before its first throttled answer
    /// would otherwise all be served at once, letting it far past its quota.
    pub async fn admit(
        &self,
        conn: &ClientQuota,
        client_id: Option<&str>,
        produce: bool,
        frame_len: usize,
    ) -> Option<Charge> {
        if !self.active() {
            return None;
        }
        let resolved = self.resolved(conn, client_id.unwrap_or(""));
        if resolved.limits.is_empty() {
            return None;
        }
        // Held across the wait on purpose: it is this connection's queue of admissions,
        // taken only by connections that have a quota.
        let _turn = conn.turn.lock().await;
        while let Some(wait) = conn.paused_for() {
            tokio::time::sleep(wait).await;
        }
        let charge = Charge {
            resolved,
            throttle_ms: AtomicU64::new(0),
        };
        let now = self.clock.now_ms();
        charge.record(Kind::Request, 1.0, now, false);
        if produce {
            charge.record(Kind::Produce, frame_len as f64, now, false);
        }
        if charge.throttle_ms() > 0 {
            conn.pause(charge.throttle_ms());
        }
        Some(charge)
    }

    /// Whether any quota entry exists (without one nothing is metered).
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Ends a request's accounting: the connection is not read again before its throttle
    /// has passed. Returns the throttle in ms.
    pub fn finish(&self, conn: &ClientQuota, charge: &Charge) -> u64 {
        let ms = charge.throttle_ms();
        if ms > 0 {
            conn.pause(ms);
        }
        ms
    }

    /// The connection's limits for `client`, resolved again after any change.
    fn resolved(&self, conn: &ClientQuota, client: &str) -> Arc<Resolved> {
        let generation = self.generation.load(Ordering::Acquire);
        let mut cached = lock(&conn.resolved);
        if let Some(r) = cached.as_ref()
            && r.generation == generation
            && r.client == client
        {
            return r.clone();
        }
        let user = conn.user.get().map(String::as_str);
        let api = read(&self.api);
        let limits = Kind::ALL
            .into_iter()
            .filter_map(|kind| {
                let Applied { entity, bound } =
                    entity::resolve(&self.config, &api, kind, user, client)?;
                Some((kind, self.meter(kind, entity), bound.get() as f64))
            })
            .collect();
        let r = Arc::new(Resolved {
            generation,
            client: client.to_owned(),
            limits,
        });
        *cached = Some(r.clone());
        r
    }

    fn meter(&self, kind: Kind, entity: Entity) -> Arc<Meter> {
        let mut meters = lock(&self.meters);
        if meters.len() >= IDLE_METERS {
            // Entities no connection holds any more (client ids come and go).
            meters.retain(|_, m| Arc::strong_count(m) > 1);
        }
        let now = self.clock.now_ms();
        let m = &self.metrics;
        meters
            .entry((kind, entity.clone()))
            .or_insert_with(|| {
                let name = entity.to_string();
                Arc::new(Meter {
                    rate: Mutex::new(Rate::new(now)),
                    bytes: (kind != Kind::Request)
                        .then(|| m.quota_bytes.with_label_values(&[&name, kind.label()])),
                    throttle: m.quota_throttle.with_label_values(&[&name, kind.label()]),
                })
            })
            .clone()
    }

    /// What `client` (without a user) is measured at now, per second, for each kind that
    /// has a limit for it.
    pub fn current(&self, client: &str) -> BTreeMap<Kind, f64> {
        let now = self.clock.now_ms();
        let meters = lock(&self.meters);
        Kind::ALL
            .into_iter()
            .filter_map(|kind| {
                let key = (
                    kind,
                    Entity {
                        user: None,
                        client: Some(client.to_owned()),
                    },
                );
                let m = meters.get(&key)?;
                let rate = lock(&m.rate).per_second(now);
                Some((kind, rate))
            })
            .collect()
    }

    /// Every entry: config entries, then those set through the API.
    pub fn list(&self) -> Vec<QuotaEntry> {
        let c = &self.config;
        let mut out = Vec::new();
        let config_entry =
            |user: Option<&str>, client: Option<&str>, limits: QuotaLimits| QuotaEntry {
                entity: Entity {
                    user: user.map(str::to_owned),
                    client: client.map(str::to_owned),
                },
                default_of: None,
                limits,
                origin: Origin::Config,
                version: None,
            };
        let defaults = [
            (DefaultOf::Client, c.defaults.client),
            (DefaultOf::User, c.defaults.user),
            (DefaultOf::UserClient, c.defaults.user_client),
        ];
        for (of, limits) in defaults {
            if !limits.is_empty() {
                out.push(QuotaEntry {
                    default_of: Some(of),
                    ..config_entry(None, None, limits)
                });
            }
        }
        for (user, u) in &c.users {
            out.push(config_entry(Some(user), None, u.limits()));
            for (client, l) in &u.clients {
                out.push(config_entry(Some(user), Some(client), *l));
            }
            if !u.default_client.is_empty() {
                out.push(QuotaEntry {
                    default_of: Some(DefaultOf::Client),
                    ..config_entry(Some(user), None, u.default_client)
                });
            }
        }
        for (client, l) in &c.clients {
            out.push(config_entry(None, Some(client), *l));
        }
        let api = read(&self.api);
        for (client, l) in api.iter() {
            out.push(QuotaEntry {
                origin: Origin::Api,
                version: self.version(client),
                ..config_entry(None, Some(client), *l)
            });
        }
        out
    }

    /// The entry that applies to `client` when it has not logged in: its own (through the
    /// API, else from the config), else the client default. `None` when no limit applies.
    pub fn entry(&self, client: &str) -> Option<QuotaEntry> {
        let entity = Entity {
            user: None,
            client: Some(client.to_owned()),
        };
        if let Some(l) = read(&self.api).get(client) {
            return Some(QuotaEntry {
                entity,
                default_of: None,
                limits: *l,
                origin: Origin::Api,
                version: self.version(client),
            });
        }
        let (limits, default_of) = match self.config.clients.get(client) {
            Some(l) => (*l, None),
            None if !self.config.defaults.client.is_empty() => {
                (self.config.defaults.client, Some(DefaultOf::Client))
            }
            None => return None,
        };
        Some(QuotaEntry {
            entity,
            default_of,
            limits,
            origin: Origin::Config,
            version: None,
        })
    }

    /// The version (control-log offset) of `client`'s API entry.
    pub fn version(&self, client: &str) -> Option<i64> {
        let applied = lock(&self.applied);
        applied.get(&quota_key(client)).copied()
    }

    /// Sets `client`'s limits from a JSON body. Returns the entry and whether it is new.
    /// 400 names the field at fault; 412 when `expected` (from `If-Match`) is stale.
    pub async fn put(
        &self,
        client: &str,
        body: &[u8],
        expected: Option<i64>,
    ) -> Result<(QuotaEntry, bool), ChangeError> {
        let limits = parse_limits(body)?;
        let _guard = self.begin(client, expected).await?;
        let created = !read(&self.api).contains_key(client);
        self.commit(client, Some(limits)).await?;
        let entry = self
            .entry(client)
            .ok_or_else(|| ChangeError::internal(format!("quota of {client:?} not applied")))?;
        Ok((entry, created))
    }

    /// Removes `client`'s API entry: 404 when there is none.
    pub async fn delete(&self, client: &str, expected: Option<i64>) -> Result<(), ChangeError> {
        let _guard = self.begin(client, expected).await?;
        let known = read(&self.api).contains_key(client);
        if !known {
            let hint = if self.config.clients.contains_key(client) {
                " (its entry in the config file is changed there)"
            } else {
                ""
            };
            return Err(ChangeError::not_found(format!(
                "no quota was set through the API for client id {client:?}{hint}"
            )));
        }
        self.commit(client, None).await
    }

    async fn begin(
        &self,
        client: &str,
        expected: Option<i64>,
    ) -> Result<tokio::sync::MutexGuard<'_, ()>, ChangeError> {
        let guard = self.changing.lock().await;
        crate::base::change_error::check_version(
            &format!("the quota of client id {client:?}"),
            expected,
            self.version(client),
        )?;
        Ok(guard)
    }

    /// Stores `client`'s limits (`None`: removed) through the control log when there is
    /// one, then applies them.
    async fn commit(&self, client: &str, limits: Option<QuotaLimits>) -> Result<(), ChangeError> {
        let key = quota_key(client);
        let value = limits
            .map(|l| serde_json::to_vec(&l))
            .transpose()
            .map_err(|e| ChangeError::internal(e.to_string()))?;
        let offset = self
            .log
            .store(
                &key,
                value.as_deref(),
                format!("the quota of client id {client:?}"),
            )
            .await?;
        self.apply_logged(&key, value.map(Bytes::from), offset);
        Ok(())
    }

    /// Applies an entry read from the control log at `offset` (any instance's change);
    /// entries older than one already applied for the key are ignored.
    pub fn apply_logged(&self, key: &str, value: Option<Bytes>, offset: Option<i64>) {
        let Some(Key::Quota { client_id: client }) = Key::parse(key) else {
            return;
        };
        if let Some(offset) = offset {
            let mut applied = lock(&self.applied);
            let last = applied.entry(key.to_owned()).or_insert(-1);
            if offset <= *last {
                return;
            }
            *last = offset;
        }
        let limits = match value.as_deref().map(serde_json::from_slice::<QuotaLimits>) {
            None => None,
            Some(Ok(l)) => Some(l),
            Some(Err(e)) => {
                tracing::warn!("control log entry {key:?} is not a quota, ignored: {e}");
                return;
            }
        };
        {
            let mut api = write(&self.api);
            match limits {
                Some(l) => api.insert(client.to_owned(), l),
                None => api.remove(&client),
            };
            let any = has_any(&self.config) || !api.is_empty();
            self.active.store(any, Ordering::Relaxed);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }
}

/// Parses a quota body: `produce_byte_rate`, `fetch_byte_rate`, `request_rate`, each a
/// positive whole number, at least one of them, nothing else.
pub fn parse_limits(body: &[u8]) -> Result<QuotaLimits, ChangeError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ChangeError::bad_request(None, format!("the body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(ChangeError::bad_request(
            None,
            "the body must be a JSON object with produce_byte_rate, fetch_byte_rate and/or \
             request_rate",
        ));
    }
    let limits: QuotaLimits = serde_path_to_error::deserialize(&value).map_err(|e| {
        let inner = e.inner().to_string();
        let field = inner
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
            .map(str::to_owned)
            .or_else(|| Some(e.path().to_string()).filter(|p| p != "."));
        let message = match &field {
            Some(f) => format!("{f}: {inner} (each rate is a positive whole number per second)"),
            None => inner,
        };
        ChangeError::bad_request(field, message)
    })?;
    if limits.is_empty() {
        return Err(ChangeError::bad_request(
            None,
            "set at least one of produce_byte_rate, fetch_byte_rate, request_rate \
             (DELETE removes a quota)",
        ));
    }
    Ok(limits)
}

#[cfg(test)]
// Tests pick their own spans.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn field(body: &str) -> Option<String> {
        match parse_limits(body.as_bytes()) {
            Err(ChangeError::Invalid { field, .. }) => field,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn bad_bodies_name_the_field() {
        assert_eq!(
            field(r#"{"produce_byte_rate": -5}"#).as_deref(),
            Some("produce_byte_rate")
        );
        assert_eq!(
            field(r#"{"fetch_byte_rate": "fast"}"#).as_deref(),
            Some("fetch_byte_rate")
        );
        assert_eq!(
            field(r#"{"request_rate": 0}"#).as_deref(),
            Some("request_rate")
        );
        assert_eq!(
            field(r#"{"produce_byte_rate": 1, "burst": 2}"#).as_deref(),
            Some("burst")
        );
        assert_eq!(field("{}"), None);
        assert_eq!(field("[1]"), None);
        let ok = parse_limits(br#"{"produce_byte_rate": 10485760, "request_rate": 1000}"#)
            .expect("valid");
        assert_eq!(ok.produce_byte_rate.map(|r| r.get()), Some(10485760));
        assert_eq!(ok.fetch_byte_rate, None);
    }

    fn quotas() -> Quotas {
        let metrics = Metrics::new().expect("metrics");
        let mut config = QuotasConfig::default();
        config.clients.insert(
            "slow".into(),
            QuotaLimits {
                produce_byte_rate: std::num::NonZeroU64::new(1000),
                ..Default::default()
            },
        );
        Quotas::new(config, metrics, Keeping::Memory)
    }

    #[tokio::test]
    async fn a_client_over_its_rate_is_throttled_and_its_next_request_waits() {
        let q = quotas();
        let conn = ClientQuota::default();
        // 5 KB within a 10 s window: 500/s, within 1000/s.
        let c = q
            .admit(&conn, Some("slow"), true, 5000)
            .await
            .expect("metered");
        assert_eq!(q.finish(&conn, &c), 0);
        assert!(conn.paused_for().is_none());
        // 5.2 KB more: 1020/s, (1020 - 1000) / 1000 × 10 s = 200 ms.
        let c = q
            .admit(&conn, Some("slow"), true, 5200)
            .await
            .expect("metered");
        let ms = q.finish(&conn, &c);
        assert!((195..=200).contains(&ms), "{ms}");
        assert!(conn.paused_for().is_some());
        // Another client id on the same proxy is not metered, nor held back.
        assert!(q.admit(&conn, Some("other"), true, 1 << 30).await.is_none());
        // The next request of the throttled client is admitted once the throttle passed.
        let started = Instant::now();
        let _ = q.admit(&conn, Some("slow"), true, 1).await;
        assert!(started.elapsed() >= Duration::from_millis(150));
        // A huge burst is throttled for at most the window.
        let c = q
            .admit(&conn, Some("slow"), true, 1 << 30)
            .await
            .expect("metered");
        assert_eq!(c.throttle_ms(), MAX_BYTES_THROTTLE_MS);
    }

    #[tokio::test]
    async fn a_change_applies_to_open_connections() {
        let q = quotas();
        let conn = ClientQuota::default();
        assert!(q.admit(&conn, Some("new"), true, 10).await.is_none());
        q.apply_logged(
            &quota_key("new"),
            Some(Bytes::from_static(br#"{"request_rate": 1}"#)),
            Some(5),
        );
        let c = q
            .admit(&conn, Some("new"), false, 10)
            .await
            .expect("metered now");
        assert_eq!(c.throttle_ms(), 0);
        assert_eq!(q.version("new"), Some(5));
        // An older entry replayed does not undo it.
        q.apply_logged(&quota_key("new"), None, Some(3));
        assert!(q.admit(&conn, Some("new"), false, 10).await.is_some());
        q.apply_logged(&quota_key("new"), None, Some(6));
        assert!(q.admit(&conn, Some("new"), false, 10).await.is_none());
    }

    #[tokio::test]
    async fn a_throttled_fetch_is_not_counted() {
        let mut config = QuotasConfig::default();
        config.defaults.client.fetch_byte_rate = std::num::NonZeroU64::new(100);
        let q = Quotas::new(config, Metrics::new().expect("metrics"), Keeping::Memory);
        let conn = ClientQuota::default();
        let c = q
            .admit(&conn, Some("any"), false, 0)
            .await
            .expect("metered");
        assert_eq!(c.fetch_cap(), Some(1000));
        assert!(!c.fetch_throttled(900, &q.clock));
        assert!(c.fetch_throttled(900, &q.clock));
        // Only the first 900 bytes count: 90/s.
        let rate = q.current("any")[&Kind::Fetch];
        assert!((rate - 90.0).abs() < 1.0, "{rate}");
    }
}
