//! An on_auth plugin: allows the usernames listed in config `users` (comma separated) and
//! refuses everyone else, naming who was refused.

use kafkatwin_plugin_sdk::{Config, Hook, Plugin};

/// The plugin.
pub struct Allowlist {
    users: Vec<String>,
}

impl Plugin for Allowlist {
    const HOOKS: &'static [Hook] = &[Hook::Auth];

    fn init(config: &Config) -> Result<Self, String> {
        Ok(Self {
            users: config.list("users"),
        })
    }

    fn on_auth(
        &self,
        _mechanism: &str,
        username: &str,
        _password: &[u8],
    ) -> Result<String, String> {
        if self.users.iter().any(|u| u == username) {
            Ok(format!("User:{username}"))
        } else {
            Err(format!("user {username} is not in the allowlist"))
        }
    }
}

kafkatwin_plugin_sdk::export_plugin!(Allowlist);

#[cfg(test)]
mod tests {
    use super::*;
    use kafkatwin_plugin_sdk::testing;

    #[test]
    fn allows_listed_users_only() {
        let p: Allowlist = testing::init(&[("users", "alice, bob")]).expect("init");
        assert_eq!(p.on_auth("PLAIN", "bob", b"pw"), Ok("User:bob".into()));
        assert!(
            p.on_auth("PLAIN", "mallory", b"pw")
                .unwrap_err()
                .contains("mallory")
        );
    }
}
