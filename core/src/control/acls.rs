//! The ACL entries: those of `auth.acls` and those added through the admin API (kept in the
//! control log, so every instance applies them and a restart finds them). Without any entry
//! every principal may do everything.

use crate::base::change_error::ChangeError;
use crate::base::sync::{read, write};
use crate::control::control_log::Keeping;
use crate::control::keys::Key;
use kafkatwin_config::{AclEntry, AclOperation, AclPattern, AclResource};
use std::collections::BTreeMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// The principal of a client that did not log in.
pub const ANONYMOUS: &str = "ANONYMOUS";

/// An entry with its name's regular expression compiled (for `pattern: regex`).
#[derive(Clone)]
struct Compiled {
    entry: AclEntry,
    regex: Option<regex::Regex>,
}

impl Compiled {
    fn new(entry: AclEntry) -> Result<Self, regex::Error> {
        let regex = match entry.pattern {
            AclPattern::Regex => Some(regex::Regex::new(&format!("^(?:{})$", entry.name))?),
            _ => None,
        };
        Ok(Self { entry, regex })
    }

    fn matches(&self, who: &str, resource: AclResource, name: &str, op: AclOperation) -> bool {
        match &self.regex {
            Some(r) => r.is_match(name) && matches(&self.entry, who, resource, None, op),
            None => matches(&self.entry, who, resource, Some(name), op),
        }
    }
}

/// The ACL entries of the config file and of the admin API.
pub struct Acls {
    config: Vec<Compiled>,
    api: RwLock<BTreeMap<String, Compiled>>,
    /// Whether there is any entry: the common case (none) costs one load per check.
    any: AtomicBool,
    log: Keeping,
}

/// Whether entry `e` allows `who` `op` on the resource; `name` is `None` when the name was
/// matched already (a regular expression).
fn matches(
    e: &AclEntry,
    who: &str,
    resource: AclResource,
    name: Option<&str>,
    op: AclOperation,
) -> bool {
    let principal = match e.principal.strip_prefix("User:") {
        Some("*") => true,
        Some(user) => user == who,
        None => false,
    };
    let named = match (e.pattern, name) {
        (_, None) => true,
        (AclPattern::Literal, Some(name)) => e.name == "*" || e.name == name,
        (AclPattern::Prefixed, Some(name)) => name.starts_with(&e.name),
        (AclPattern::Regex, Some(_)) => false,
    };
    let allowed = e.operations.iter().any(|&o| {
        o == AclOperation::All
            || o == op
            || (op == AclOperation::Describe
                && matches!(
                    o,
                    AclOperation::Read | AclOperation::Write | AclOperation::Delete
                ))
    });
    e.resource == resource && principal && named && allowed
}

impl Acls {
    /// The entries of `auth.acls`; API changes kept as `log` says.
    pub fn new(entries: &[AclEntry], log: Keeping) -> Self {
        // The config check refused a regular expression that does not compile.
        let config: Vec<Compiled> = entries
            .iter()
            .filter_map(|e| Compiled::new(e.clone()).ok())
            .collect();
        Self {
            any: AtomicBool::new(!config.is_empty()),
            config,
            api: RwLock::default(),
            log,
        }
    }

    /// Whether there are no entries (everything is allowed).
    pub fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Relaxed)
    }

    /// Whether `principal` (a user name; `None` for a client that did not log in) may do `op`
    /// on the named resource. Read, write and delete imply describe, as in Kafka.
    pub fn allows(
        &self,
        principal: Option<&str>,
        resource: AclResource,
        name: &str,
        op: AclOperation,
    ) -> bool {
        if self.is_empty() {
            return true;
        }
        let who = principal.unwrap_or(ANONYMOUS);
        self.config
            .iter()
            .any(|e| e.matches(who, resource, name, op))
            || read(&self.api)
                .values()
                .any(|e| e.matches(who, resource, name, op))
    }

    /// Every entry: `None` ids for the config's, in order, then the API's by id.
    pub fn list(&self) -> Vec<(Option<String>, AclEntry)> {
        let mut out: Vec<(Option<String>, AclEntry)> = self
            .config
            .iter()
            .map(|e| (None, e.entry.clone()))
            .collect();
        out.extend(
            read(&self.api)
                .iter()
                .map(|(id, e)| (Some(id.clone()), e.entry.clone())),
        );
        out
    }

    /// Adds an entry from a JSON body (`auth.acls`' shape); its id.
    pub async fn add(&self, body: &[u8]) -> Result<(String, AclEntry), ChangeError> {
        let entry: AclEntry =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body))
                .map_err(|e| {
                    let path = e.path().to_string();
                    let field = (path != ".").then_some(path);
                    ChangeError::bad_request(field, format!("not an ACL entry: {}", e.inner()))
                })?;
        if !entry.principal.starts_with("User:") || entry.principal.len() <= "User:".len() {
            return Err(ChangeError::bad_request(
                Some("principal".into()),
                format!(
                    "{:?} is not a principal: write User:<name> or User:*",
                    entry.principal
                ),
            ));
        }
        if let Err(e) = Compiled::new(entry.clone()) {
            return Err(ChangeError::bad_request(
                Some("name".into()),
                format!("not a regular expression: {e}"),
            ));
        }
        if entry.operations.is_empty() {
            return Err(ChangeError::bad_request(
                Some("operations".into()),
                "give at least one operation",
            ));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let value = serde_json::to_vec(&entry).map_err(|e| ChangeError::internal(e.to_string()))?;
        self.commit(&id, Some(value)).await?;
        Ok((id, entry))
    }

    /// Removes API entry `id`.
    pub async fn delete(&self, id: &str) -> Result<AclEntry, ChangeError> {
        let Some(entry) = read(&self.api).get(id).map(|c| c.entry.clone()) else {
            return Err(ChangeError::not_found(format!(
                "no ACL entry {id} was added through the API (entries of the config file are changed there)"
            )));
        };
        self.commit(id, None).await?;
        Ok(entry)
    }

    async fn commit(&self, id: &str, value: Option<Vec<u8>>) -> Result<(), ChangeError> {
        let key = Key::Acl { id: id.to_owned() }.to_string();
        self.log
            .store(&key, value.as_deref(), format!("ACL entry {id}"))
            .await?;
        self.apply_logged(&key, value.as_deref());
        Ok(())
    }

    /// Applies an entry of the control log (any instance's change).
    pub fn apply_logged(&self, key: &str, value: Option<&[u8]>) {
        let Some(Key::Acl { id }) = Key::parse(key) else {
            return;
        };
        let mut api = write(&self.api);
        match value.map(serde_json::from_slice::<AclEntry>) {
            None => {
                api.remove(&id);
            }
            Some(Ok(e)) => match Compiled::new(e) {
                Ok(c) => {
                    api.insert(id, c);
                }
                Err(e) => tracing::warn!("ACL entry {key:?} ignored: {e}"),
            },
            Some(Err(e)) => {
                tracing::warn!("control log entry {key:?} is not an ACL entry, ignored: {e}");
            }
        }
        self.any.store(
            !self.config.is_empty() || !api.is_empty(),
            Ordering::Relaxed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_from_the_config_and_the_api_both_count() {
        let acls = Acls::new(&[], Keeping::Memory);
        assert!(acls.allows(Some("bob"), AclResource::Topic, "x", AclOperation::Write));
        let (id, _) = acls
            .add(br#"{"principal": "User:alice", "resource": "topic", "name": "ord", "pattern": "prefixed", "operations": ["write"]}"#)
            .await
            .expect("added");
        assert!(acls.allows(
            Some("alice"),
            AclResource::Topic,
            "orders",
            AclOperation::Write
        ));
        assert!(acls.allows(
            Some("alice"),
            AclResource::Topic,
            "orders",
            AclOperation::Describe
        ));
        assert!(!acls.allows(
            Some("alice"),
            AclResource::Topic,
            "orders",
            AclOperation::Read
        ));
        assert!(!acls.allows(
            Some("bob"),
            AclResource::Topic,
            "orders",
            AclOperation::Write
        ));
        assert!(!acls.allows(None, AclResource::Topic, "orders", AclOperation::Write));
        let bad = acls.add(br#"{"principal": "alice", "resource": "topic", "name": "x", "operations": ["read"]}"#).await;
        assert!(bad.is_err_and(|e| e.to_string().contains("User:")));
        let bad = acls.add(br#"{"principal": "User:a", "resource": "table", "name": "x", "operations": ["read"]}"#).await;
        assert!(bad.is_err());
        acls.delete(&id).await.expect("deleted");
        assert!(acls.is_empty());
        acls.add(br#"{"principal": "User:*", "resource": "group", "name": "team-[a-z]+", "pattern": "regex", "operations": ["read"]}"#)
            .await
            .expect("a regular expression");
        assert!(acls.allows(
            Some("x"),
            AclResource::Group,
            "team-blue",
            AclOperation::Read
        ));
        assert!(!acls.allows(
            Some("x"),
            AclResource::Group,
            "team-blue2",
            AclOperation::Read
        ));
        assert!(!acls.allows(
            Some("x"),
            AclResource::Group,
            "my-team-blue",
            AclOperation::Read
        ));
        let bad = acls.add(br#"{"principal": "User:a", "resource": "topic", "name": "(", "pattern": "regex", "operations": ["read"]}"#).await;
        assert!(bad.is_err_and(|e| e.to_string().contains("regular expression")));
    }
}
