//! The WASM side: bindings generated from `wit/world.wit`, and the glue the
//! [`export_plugin!`](crate::export_plugin) macro calls. Only built for `wasm32`.

use crate::plugin::{Config, Hook, Plugin};
use crate::{BatchContext, RejectCode, Verdict, wire};

/// Generated bindings (wit-bindgen).
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "kafkatwin_plugin_sdk::guest::bindings",
    });
}

use bindings::kafkatwin::plugin::types as wit;

fn verdict(v: Verdict) -> wit::Verdict {
    match v {
        Verdict::Keep => wit::Verdict::Keep,
        Verdict::Rewrite(records) => wit::Verdict::Rewrite(wire::encode_owned(&records)),
        Verdict::Reject {
            code,
            message,
            record_errors,
        } => wit::Verdict::Reject(wit::Rejection {
            code: match code {
                RejectCode::InvalidRecord => wit::RejectCode::InvalidRecord,
                RejectCode::PolicyViolation => wit::RejectCode::PolicyViolation,
            },
            message,
            record_errors: record_errors
                .into_iter()
                .map(|(i, m)| (i as u32, m))
                .collect(),
        }),
    }
}

/// `init`: builds the plugin.
pub fn init<P: Plugin>(config: Vec<(String, String)>) -> Result<P, String> {
    P::init(&Config(config))
}

/// `hooks`: what the plugin implements.
pub fn hooks<P: Plugin>() -> Vec<wit::Hook> {
    P::HOOKS
        .iter()
        .map(|h| match h {
            Hook::Produce => wit::Hook::Produce,
            Hook::Fetch => wit::Hook::Fetch,
            Hook::Auth => wit::Hook::Auth,
        })
        .collect()
}

fn batch(
    plugin: Option<&impl Plugin>,
    ctx: wit::BatchContext,
    records: Vec<u8>,
    call: impl FnOnce(&BatchContext<'_>, &[crate::RecordView<'_>]) -> Verdict,
) -> wit::Verdict {
    if plugin.is_none() {
        return wit::Verdict::Reject(wit::Rejection {
            code: wit::RejectCode::PolicyViolation,
            message: "plugin called before init".into(),
            record_errors: Vec::new(),
        });
    }
    let views = match wire::decode(&records) {
        Ok(v) => v,
        Err(e) => {
            return wit::Verdict::Reject(wit::Rejection {
                code: wit::RejectCode::InvalidRecord,
                message: e.to_string(),
                record_errors: Vec::new(),
            });
        }
    };
    let bc = BatchContext {
        topic: &ctx.topic,
        partition: ctx.partition,
        client_id: ctx.client_id.as_deref(),
    };
    verdict(call(&bc, &views))
}

/// `on-produce`.
pub fn on_produce<P: Plugin>(
    plugin: Option<&P>,
    ctx: wit::BatchContext,
    records: Vec<u8>,
) -> wit::Verdict {
    batch(plugin, ctx, records, |c, v| {
        plugin.map_or(Verdict::Keep, |p| p.on_produce(c, v))
    })
}

/// `on-fetch`.
pub fn on_fetch<P: Plugin>(
    plugin: Option<&P>,
    ctx: wit::BatchContext,
    records: Vec<u8>,
) -> wit::Verdict {
    batch(plugin, ctx, records, |c, v| {
        plugin.map_or(Verdict::Keep, |p| p.on_fetch(c, v))
    })
}

/// `on-auth`.
pub fn on_auth<P: Plugin>(
    plugin: Option<&P>,
    mechanism: String,
    username: String,
    password: Vec<u8>,
) -> Result<String, String> {
    match plugin {
        Some(p) => p.on_auth(&mechanism, &username, &password),
        None => Err("plugin called before init".into()),
    }
}

/// Exports a [`Plugin`] type as the component's world. Use once per plugin crate:
/// `kafkatwin_plugin_sdk::export_plugin!(MyPlugin);`
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::guest::bindings::kafkatwin::plugin::types as __wit;
            ::std::thread_local! {
                static __PLUGIN: ::std::cell::RefCell<Option<$plugin>> =
                    const { ::std::cell::RefCell::new(None) };
            }
            struct __Adapter;
            impl $crate::guest::bindings::Guest for __Adapter {
                fn init(config: Vec<(String, String)>) -> Result<(), String> {
                    let p = $crate::guest::init::<$plugin>(config)?;
                    __PLUGIN.with(|s| *s.borrow_mut() = Some(p));
                    Ok(())
                }
                fn hooks() -> Vec<__wit::Hook> {
                    $crate::guest::hooks::<$plugin>()
                }
                fn on_produce(ctx: __wit::BatchContext, records: Vec<u8>) -> __wit::Verdict {
                    __PLUGIN.with(|s| $crate::guest::on_produce(s.borrow().as_ref(), ctx, records))
                }
                fn on_fetch(ctx: __wit::BatchContext, records: Vec<u8>) -> __wit::Verdict {
                    __PLUGIN.with(|s| $crate::guest::on_fetch(s.borrow().as_ref(), ctx, records))
                }
                fn on_auth(
                    mechanism: String,
                    username: String,
                    password: Vec<u8>,
                ) -> Result<String, String> {
                    __PLUGIN.with(|s| {
                        $crate::guest::on_auth(s.borrow().as_ref(), mechanism, username, password)
                    })
                }
            }
            $crate::guest::bindings::__export_world!(__Adapter);
        };
    };
}
