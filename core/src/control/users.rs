//! The users who may log in: those of `auth.users` (from the config file) and those set
//! through the admin API, kept in the control log as SCRAM credentials (never a password),
//! so every instance has them and a restart finds them. A config user and an API user of
//! the same name: the config's wins.

use crate::base::change_error::ChangeError;
use crate::base::scram::{Credential, ScramError, ScramHash};
use crate::base::sync::{read, write};
use crate::control::control_log::Keeping;
use crate::control::keys::Key;
use kafkatwin_config::ScramCredential;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::RwLock;
use subtle::ConstantTimeEq;

/// One user's credentials.
#[derive(Clone)]
pub struct User {
    /// The password, for config users (compared in constant time for PLAIN).
    password: Option<String>,
    /// SCRAM-SHA-256, when known.
    sha256: Option<Credential>,
    /// SCRAM-SHA-512, when known.
    sha512: Option<Credential>,
}

/// A user of `auth.users` that cannot log in: which entry, and why.
#[derive(Debug, thiserror::Error)]
#[error("auth.users[{index}] (user {user}): {reason}")]
pub struct UserError {
    index: usize,
    user: String,
    reason: String,
}

impl User {
    fn derive(password: &str) -> Result<Self, ScramError> {
        Ok(Self {
            sha256: Some(Credential::derive(ScramHash::Sha256, password)?),
            sha512: Some(Credential::derive(ScramHash::Sha512, password)?),
            password: None,
        })
    }

    /// The credential for a SCRAM mechanism, when the user has one.
    pub fn credential(&self, hash: ScramHash) -> Option<&Credential> {
        match hash {
            ScramHash::Sha256 => self.sha256.as_ref(),
            ScramHash::Sha512 => self.sha512.as_ref(),
        }
    }

    /// Whether `password` is this user's (a PLAIN login).
    pub fn check_password(&self, password: &[u8]) -> bool {
        match &self.password {
            Some(p) => bool::from(p.as_bytes().ct_eq(password)),
            None => self
                .sha256
                .as_ref()
                .or(self.sha512.as_ref())
                .is_some_and(|c| c.check_password(password)),
        }
    }

    /// The SASL mechanisms the user can log in with.
    pub fn mechanisms(&self) -> Vec<&'static str> {
        let mut out = vec!["PLAIN"];
        if self.sha256.is_some() {
            out.push("SCRAM-SHA-256");
        }
        if self.sha512.is_some() {
            out.push("SCRAM-SHA-512");
        }
        out
    }
}

/// A user as stored in the control log.
#[derive(Serialize, Deserialize)]
struct StoredUser {
    sha256: ScramCredential,
    sha512: ScramCredential,
}

/// Where a user comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOrigin {
    /// `auth.users`.
    Config,
    /// The admin API.
    Api,
}

/// The users of the config file and of the admin API.
pub struct Users {
    config: BTreeMap<String, User>,
    api: RwLock<BTreeMap<String, User>>,
    log: Keeping,
    changing: tokio::sync::Mutex<()>,
}

impl Users {
    /// The users of `auth.users` (passwords resolved, SCRAM credentials derived); changes
    /// through the API kept as `log` says. An error names the entry.
    pub fn new(users: &[kafkatwin_config::AuthUser], log: Keeping) -> Result<Self, UserError> {
        let mut config = BTreeMap::new();
        for (index, u) in users.iter().enumerate() {
            let bad = |reason: String| UserError {
                index,
                user: u.username.clone(),
                reason,
            };
            let user = match &u.password {
                Some(secret) => {
                    let password = secret
                        .resolve()
                        .map_err(|e| bad(format!("password: {e}")))?;
                    let mut user = User::derive(&password).map_err(|e| bad(e.to_string()))?;
                    user.password = Some(password);
                    user
                }
                None => {
                    let salted = |hash, c: &Option<ScramCredential>| {
                        c.as_ref()
                            .map(|c| Credential::from_stored(hash, c))
                            .transpose()
                    };
                    User {
                        password: None,
                        sha256: salted(ScramHash::Sha256, &u.scram_sha_256)
                            .map_err(|e| bad(format!("scram_sha_256: {e}")))?,
                        sha512: salted(ScramHash::Sha512, &u.scram_sha_512)
                            .map_err(|e| bad(format!("scram_sha_512: {e}")))?,
                    }
                }
            };
            config.insert(u.username.clone(), user);
        }
        Ok(Self {
            config,
            api: RwLock::default(),
            log,
            changing: tokio::sync::Mutex::new(()),
        })
    }

    /// The user `name`, if any.
    pub fn get(&self, name: &str) -> Option<User> {
        if let Some(u) = self.config.get(name) {
            return Some(u.clone());
        }
        read(&self.api).get(name).cloned()
    }

    /// Whether there is any user (then SCRAM is offered).
    pub fn any(&self) -> bool {
        !self.config.is_empty() || !read(&self.api).is_empty()
    }

    /// Every user name with where it comes from and its mechanisms.
    pub fn list(&self) -> Vec<(String, UserOrigin, Vec<&'static str>)> {
        let mut out: Vec<(String, UserOrigin, Vec<&'static str>)> = self
            .config
            .iter()
            .map(|(n, u)| (n.clone(), UserOrigin::Config, u.mechanisms()))
            .collect();
        out.extend(
            read(&self.api)
                .iter()
                .filter(|(n, _)| !self.config.contains_key(*n))
                .map(|(n, u)| (n.clone(), UserOrigin::Api, u.mechanisms())),
        );
        out
    }

    /// Sets user `name`'s password from a `{"password": "..."}` body; whether the user is new.
    pub async fn put(&self, name: &str, body: &[u8]) -> Result<bool, ChangeError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            password: String,
        }
        let body: Body = serde_json::from_slice(body).map_err(|e| {
            ChangeError::bad_request(
                Some("password".into()),
                format!("the body must be {{\"password\": \"...\"}}: {e}"),
            )
        })?;
        if body.password.is_empty() {
            return Err(ChangeError::bad_request(
                Some("password".into()),
                "the password is empty",
            ));
        }
        if self.config.contains_key(name) {
            return Err(ChangeError::conflict(format!(
                "user {name} is set in the config file (auth.users): change it there"
            )));
        }
        let user =
            User::derive(&body.password).map_err(|e| ChangeError::internal(e.to_string()))?;
        let (Some(sha256), Some(sha512)) = (&user.sha256, &user.sha512) else {
            return Err(ChangeError::internal("a derived user lacks a credential"));
        };
        let stored = StoredUser {
            sha256: sha256.to_stored(),
            sha512: sha512.to_stored(),
        };
        let value =
            serde_json::to_vec(&stored).map_err(|e| ChangeError::internal(e.to_string()))?;
        let _changing = self.changing.lock().await;
        let created = !read(&self.api).contains_key(name);
        self.commit(name, Some(value)).await?;
        Ok(created)
    }

    /// Removes API user `name`.
    pub async fn delete(&self, name: &str) -> Result<(), ChangeError> {
        let _changing = self.changing.lock().await;
        if !read(&self.api).contains_key(name) {
            let hint = if self.config.contains_key(name) {
                " (it is set in the config file, auth.users)"
            } else {
                ""
            };
            return Err(ChangeError::not_found(format!(
                "no user {name} was set through the API{hint}"
            )));
        }
        self.commit(name, None).await
    }

    async fn commit(&self, name: &str, value: Option<Vec<u8>>) -> Result<(), ChangeError> {
        let key = Key::User {
            name: name.to_owned(),
        }
        .to_string();
        self.log
            .store(&key, value.as_deref(), format!("user {name}"))
            .await?;
        self.apply_logged(&key, value.as_deref());
        Ok(())
    }

    /// Applies an entry of the control log (any instance's change).
    pub fn apply_logged(&self, key: &str, value: Option<&[u8]>) {
        let Some(Key::User { name }) = Key::parse(key) else {
            return;
        };
        let Some(value) = value else {
            write(&self.api).remove(&name);
            return;
        };
        let stored = match serde_json::from_slice::<StoredUser>(value) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("control log entry {key:?} is not a user, ignored: {e}");
                return;
            }
        };
        let user = Credential::from_stored(ScramHash::Sha256, &stored.sha256).and_then(|sha256| {
            Ok(User {
                password: None,
                sha256: Some(sha256),
                sha512: Some(Credential::from_stored(ScramHash::Sha512, &stored.sha512)?),
            })
        });
        match user {
            Ok(u) => {
                write(&self.api).insert(name, u);
            }
            Err(e) => tracing::warn!("control log entry {key:?} is not a user, ignored: {e}"),
        }
    }
}
