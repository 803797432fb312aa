//! Loading, validating and calling plugins.

use super::bindings::{self, Plugin, PluginPre};
use super::error::{CallError, UploadError};
use super::limits::Limiter;
use super::ticker::{TICK, Ticker};
use kafkatwin_plugin_sdk::{BatchContext, Hook, RejectCode};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The sandbox every call runs in.
#[derive(Debug, Clone, Copy)]
pub struct Sandbox {
    /// CPU time per call.
    pub cpu_deadline: Duration,
    /// Linear memory per instance, bytes.
    pub memory: usize,
    /// Largest module accepted, bytes.
    pub max_upload: usize,
}

/// An uploaded plugin, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Name.
    pub name: String,
    /// 1 for the first upload of this name, then +1 per upload.
    pub version: u32,
    /// SHA-256 of the module, hex.
    pub sha256: String,
    /// Hooks it implements: `produce`, `fetch`, `auth`.
    pub hooks: Vec<String>,
    /// Module size, bytes.
    pub size: usize,
}

/// A plugin's answer for a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginVerdict {
    /// Let the batch through unchanged.
    Keep,
    /// New records, in the SDK's `wire` encoding.
    Rewrite(Vec<u8>),
    /// Fail the partition.
    Reject {
        /// Kafka error code.
        code: i16,
        /// Why.
        message: String,
        /// Per-record reasons by index.
        record_errors: Vec<(u32, String)>,
    },
}

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A ready instance, initialised with one config.
struct Warm {
    config: Vec<(String, String)>,
    store: Store<State>,
    plugin: Plugin,
}

struct Loaded {
    info: PluginInfo,
    hooks: Vec<Hook>,
    pre: PluginPre<State>,
    warm: Mutex<Vec<Warm>>,
}

/// Warm instances kept per plugin (about one per worker thread).
const WARM_PER_PLUGIN: usize = 8;

type Job = Box<dyn FnOnce() + Send>;

/// Where plugin calls run. WASI's synchronous bindings drive their I/O (a guest writing a
/// panic message to stderr, say) with `block_on`, which panics on an async runtime's worker
/// unless that worker was handed to `block_in_place` first.
struct Workers {
    tx: Mutex<std::sync::mpsc::Sender<Job>>,
}

impl Workers {
    fn new(n: usize) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("wasm-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the host is gone
                        }
                    }
                })?;
        }
        Ok(Self { tx: Mutex::new(tx) })
    }

    /// Runs `f` where WASI's `block_on` is allowed and waits for it; a panic in `f` comes
    /// back as `None`. On a multi-thread runtime's worker that is the worker itself, turned
    /// into a blocking thread for the call (`block_in_place`, no hand-off); outside any
    /// runtime it is the caller; on a current-thread runtime, a plugin thread.
    fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
        let guarded = || std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
        match tokio::runtime::Handle::try_current() {
            Err(_) => return guarded(),
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                return tokio::task::block_in_place(guarded);
            }
            Ok(_) => {}
        }
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = done.send(guarded());
        });
        self.tx.lock().ok()?.send(job).ok()?;
        wait.recv().ok().flatten()
    }
}

/// Loads plugins and runs their hooks in a sandbox.
pub struct PluginHost {
    inner: Arc<Inner>,
    workers: Workers,
}

struct Inner {
    engine: Engine,
    linker: Linker<State>,
    sandbox: Sandbox,
    plugins: RwLock<HashMap<String, Arc<Loaded>>>,
    versions: Mutex<HashMap<String, u32>>,
    ticker: Ticker,
}

impl PluginHost {
    /// A host with no plugins; starts the threads that drive CPU deadlines and run calls.
    pub fn new(sandbox: Sandbox) -> wasmtime::Result<Self> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        Ok(Self {
            inner: Arc::new(Inner::new(sandbox)?),
            workers: Workers::new(workers).map_err(wasmtime::Error::from)?,
        })
    }

    /// Validates, compiles and loads a module under `name`; a new upload of a name replaces
    /// the old one atomically (calls in flight finish on the old one).
    pub fn upload(&self, name: &str, module: &[u8]) -> Result<PluginInfo, UploadError> {
        self.install(name, module, None)
    }

    /// [`PluginHost::upload`] under a version decided elsewhere (another instance's upload,
    /// replayed from the state log); `None` takes the next local version.
    pub fn install(
        &self,
        name: &str,
        module: &[u8],
        version: Option<u32>,
    ) -> Result<PluginInfo, UploadError> {
        let inner = self.inner.clone();
        let (owned, module) = (name.to_owned(), module.to_vec());
        self.workers
            .run(move || inner.upload(&owned, &module, version))
            .unwrap_or_else(|| {
                Err(UploadError::Invalid {
                    name: name.to_owned(),
                    reason: "the plugin host failed while loading it".into(),
                })
            })
    }

    /// Every loaded plugin, by name.
    pub fn list(&self) -> Vec<PluginInfo> {
        self.inner.list()
    }

    /// One plugin.
    pub fn get(&self, name: &str) -> Option<PluginInfo> {
        self.inner.get(name)
    }

    /// Unloads a plugin; returns what was removed.
    pub fn remove(&self, name: &str) -> Option<PluginInfo> {
        self.inner.remove(name)
    }

    /// Runs `hook` of plugin `name` on one batch (`records` in the SDK's wire encoding), in
    /// an instance initialised with `config`. A failed call drops its instance.
    pub fn call(
        &self,
        name: &str,
        hook: Hook,
        config: &[(String, String)],
        ctx: &BatchContext<'_>,
        records: Vec<u8>,
    ) -> Result<PluginVerdict, CallError> {
        let inner = self.inner.clone();
        let call = OwnedCall {
            name: name.to_owned(),
            config: config.to_vec(),
            topic: ctx.topic.to_owned(),
            partition: ctx.partition,
            client_id: ctx.client_id.map(str::to_owned),
            records,
        };
        self.workers
            .run(move || inner.call(call, hook))
            .unwrap_or_else(|| {
                Err(CallError::Trap {
                    plugin: name.to_owned(),
                    hook: hook.name(),
                    reason: "the plugin host failed during the call".into(),
                })
            })
    }
}

impl PluginHost {
    /// Asks on_auth plugin `name` about a SASL login: `Ok(Ok(principal))` allows it,
    /// `Ok(Err(reason))` refuses it.
    pub fn call_auth(
        &self,
        name: &str,
        config: &[(String, String)],
        mechanism: &str,
        username: &str,
        password: &[u8],
    ) -> Result<Result<String, String>, CallError> {
        let inner = self.inner.clone();
        let (n, c, m, u, p) = (
            name.to_owned(),
            config.to_vec(),
            mechanism.to_owned(),
            username.to_owned(),
            password.to_vec(),
        );
        self.workers
            .run(move || inner.call_auth(&n, &c, &m, &u, &p))
            .unwrap_or_else(|| {
                Err(CallError::Trap {
                    plugin: name.to_owned(),
                    hook: "auth",
                    reason: "the plugin host failed during the call".into(),
                })
            })
    }
}

/// A call's inputs, owned so they can cross to a worker thread.
struct OwnedCall {
    name: String,
    config: Vec<(String, String)>,
    topic: String,
    partition: i32,
    client_id: Option<String>,
    records: Vec<u8>,
}

impl Inner {
    fn new(sandbox: Sandbox) -> wasmtime::Result<Self> {
        // Pooling allocator: instance slots are reserved up front, so instantiating (a warm
        // instance recycled after a trap, a first call) is a few microseconds.
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(512)
            .total_core_instances(4096)
            .total_memories(2048)
            .total_tables(2048)
            .max_memory_size(sandbox.memory.max(1 << 16));
        let mut cfg = Config::new();
        cfg.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&cfg)?;
        let mut linker = Linker::new(&engine);
        // WASI is linked so ordinary Rust components instantiate, but the context grants
        // nothing: no env, args, preopened dirs or network; stdio discarded.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let ticker = Ticker::start(engine.clone()).map_err(wasmtime::Error::from)?;
        Ok(Self {
            engine,
            linker,
            sandbox,
            plugins: RwLock::default(),
            versions: Mutex::default(),
            ticker,
        })
    }

    fn store(&self) -> Store<State> {
        let mut store = Store::new(
            &self.engine,
            State {
                wasi: WasiCtxBuilder::new().build(),
                table: ResourceTable::new(),
                limiter: Limiter {
                    memory: self.sandbox.memory,
                    denied: false,
                },
            },
        );
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        store
    }

    fn deadline_ticks(&self) -> u64 {
        (self.sandbox.cpu_deadline.as_millis() as u64 / TICK.as_millis() as u64).max(1)
    }

    fn upload(
        &self,
        name: &str,
        module: &[u8],
        version: Option<u32>,
    ) -> Result<PluginInfo, UploadError> {
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(UploadError::BadName { name: name.into() });
        }
        let owned = || name.to_owned();
        if module.is_empty() {
            return Err(UploadError::Empty { name: owned() });
        }
        if module.len() > self.sandbox.max_upload {
            return Err(UploadError::TooLarge {
                name: owned(),
                size: module.len(),
                limit: self.sandbox.max_upload,
            });
        }
        let component = Component::new(&self.engine, module).map_err(|e| UploadError::Invalid {
            name: owned(),
            reason: format!("{e:#}"),
        })?;
        let forbidden: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(import, _)| import)
            .filter(|i| i.starts_with("wasi:filesystem/") || i.starts_with("wasi:sockets/"))
            .map(str::to_owned)
            .collect();
        if !forbidden.is_empty() {
            return Err(UploadError::ForbiddenImport {
                name: owned(),
                import: forbidden.join(", "),
            });
        }
        let not_a_plugin = |e: wasmtime::Error| UploadError::NotAPlugin {
            name: owned(),
            reason: format!("{e:#}"),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(not_a_plugin)?;
        let pre = PluginPre::new(pre).map_err(not_a_plugin)?;
        // One probe instance: it must start and say which hooks it implements.
        let mut store = self.store();
        let _ticking = self.ticker.ticking();
        store.set_epoch_deadline(self.deadline_ticks());
        let plugin = pre.instantiate(&mut store).map_err(not_a_plugin)?;
        let hooks: Vec<Hook> = plugin
            .call_hooks(&mut store)
            .map_err(not_a_plugin)?
            .into_iter()
            .map(|h| match h {
                bindings::Hook::Produce => Hook::Produce,
                bindings::Hook::Fetch => Hook::Fetch,
                bindings::Hook::Auth => Hook::Auth,
            })
            .collect();
        let version = {
            let mut v = self.versions.lock().unwrap_or_else(|p| p.into_inner());
            let n = v.entry(owned()).or_insert(0);
            *n = version.unwrap_or(*n + 1).max(*n);
            *n
        };
        let info = PluginInfo {
            name: owned(),
            version,
            sha256: Sha256::digest(module)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            hooks: hooks.iter().map(|h| h.name().to_owned()).collect(),
            size: module.len(),
        };
        let loaded = Arc::new(Loaded {
            info: info.clone(),
            hooks,
            pre,
            warm: Mutex::default(),
        });
        self.plugins
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(owned(), loaded);
        tracing::info!(
            plugin = name,
            version,
            "plugin {name} v{version} loaded ({} bytes)",
            module.len()
        );
        Ok(info)
    }

    fn list(&self) -> Vec<PluginInfo> {
        let map = self.plugins.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<PluginInfo> = map.values().map(|l| l.info.clone()).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn get(&self, name: &str) -> Option<PluginInfo> {
        let map = self.plugins.read().unwrap_or_else(|p| p.into_inner());
        map.get(name).map(|l| l.info.clone())
    }

    fn remove(&self, name: &str) -> Option<PluginInfo> {
        let mut map = self.plugins.write().unwrap_or_else(|p| p.into_inner());
        map.remove(name).map(|l| l.info.clone())
    }

    fn call(&self, call: OwnedCall, hook: Hook) -> Result<PluginVerdict, CallError> {
        let OwnedCall {
            name,
            config,
            topic,
            partition,
            client_id,
            records,
        } = call;
        let (name, config, records) = (name.as_str(), config.as_slice(), records.as_slice());
        let loaded = self.loaded(name)?;
        if !loaded.hooks.contains(&hook) {
            return Ok(PluginVerdict::Keep);
        }
        let hook_label = hook.name();
        let mut warm = self.warm(&loaded, config, hook_label)?;
        let wctx = bindings::BatchContext {
            topic,
            partition,
            client_id,
        };
        let _ticking = self.ticker.ticking();
        warm.store.set_epoch_deadline(self.deadline_ticks());
        let result = match hook {
            Hook::Fetch => warm.plugin.call_on_fetch(&mut warm.store, &wctx, records),
            _ => warm.plugin.call_on_produce(&mut warm.store, &wctx, records),
        };
        match result {
            Ok(v) => {
                let outcome = match v {
                    bindings::Verdict::Keep => PluginVerdict::Keep,
                    bindings::Verdict::Rewrite(b) => PluginVerdict::Rewrite(b),
                    bindings::Verdict::Reject(r) => PluginVerdict::Reject {
                        code: match r.code {
                            bindings::kafkatwin::plugin::types::RejectCode::InvalidRecord => {
                                RejectCode::InvalidRecord
                            }
                            bindings::kafkatwin::plugin::types::RejectCode::PolicyViolation => {
                                RejectCode::PolicyViolation
                            }
                        }
                        .kafka_code(),
                        message: r.message,
                        record_errors: r.record_errors,
                    },
                };
                self.put_warm(&loaded, warm);
                Ok(outcome)
            }
            Err(e) => Err(self.classify(name, hook_label, &warm.store, e)),
        }
    }

    fn call_auth(
        &self,
        name: &str,
        config: &[(String, String)],
        mechanism: &str,
        username: &str,
        password: &[u8],
    ) -> Result<Result<String, String>, CallError> {
        let loaded = self.loaded(name)?;
        if !loaded.hooks.contains(&Hook::Auth) {
            return Ok(Err(format!("plugin {name} does not implement on_auth")));
        }
        let mut warm = self.warm(&loaded, config, "auth")?;
        let _ticking = self.ticker.ticking();
        warm.store.set_epoch_deadline(self.deadline_ticks());
        match warm
            .plugin
            .call_on_auth(&mut warm.store, mechanism, username, password)
        {
            Ok(r) => {
                self.put_warm(&loaded, warm);
                Ok(r)
            }
            Err(e) => Err(self.classify(name, "auth", &warm.store, e)),
        }
    }

    fn classify(
        &self,
        plugin: &str,
        hook: &'static str,
        store: &Store<State>,
        e: wasmtime::Error,
    ) -> CallError {
        let plugin = plugin.to_owned();
        if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            return CallError::Timeout {
                plugin,
                hook,
                after: self.sandbox.cpu_deadline,
            };
        }
        if store.data().limiter.denied {
            return CallError::Memory {
                plugin,
                hook,
                limit: self.sandbox.memory,
            };
        }
        CallError::Trap {
            plugin,
            hook,
            reason: format!("{e:#}").lines().next().unwrap_or("trap").to_owned(),
        }
    }

    fn instantiate(
        &self,
        loaded: &Loaded,
        config: &[(String, String)],
        hook: &'static str,
    ) -> Result<Warm, CallError> {
        let name = &loaded.info.name;
        let mut store = self.store();
        let _ticking = self.ticker.ticking();
        store.set_epoch_deadline(self.deadline_ticks());
        let plugin = loaded
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.classify(name, hook, &store, e))?;
        match plugin.call_init(&mut store, config) {
            Ok(Ok(())) => Ok(Warm {
                config: config.to_vec(),
                store,
                plugin,
            }),
            Ok(Err(reason)) => Err(CallError::Init {
                plugin: name.clone(),
                reason,
            }),
            Err(e) => Err(self.classify(name, hook, &store, e)),
        }
    }

    fn loaded(&self, name: &str) -> Result<Arc<Loaded>, CallError> {
        let map = self.plugins.read().unwrap_or_else(|p| p.into_inner());
        map.get(name).cloned().ok_or_else(|| CallError::NotFound {
            plugin: name.to_owned(),
        })
    }

    /// A ready instance for `config`: a warm one, else a new one (instantiated and inited).
    fn warm(
        &self,
        loaded: &Loaded,
        config: &[(String, String)],
        hook: &'static str,
    ) -> Result<Warm, CallError> {
        match self.take_warm(loaded, config) {
            Some(w) => Ok(w),
            None => self.instantiate(loaded, config, hook),
        }
    }

    fn take_warm(&self, loaded: &Loaded, config: &[(String, String)]) -> Option<Warm> {
        let mut warm = loaded.warm.lock().unwrap_or_else(|p| p.into_inner());
        let i = warm.iter().position(|w| w.config == config)?;
        Some(warm.swap_remove(i))
    }

    fn put_warm(&self, loaded: &Loaded, w: Warm) {
        let mut warm = loaded.warm.lock().unwrap_or_else(|p| p.into_inner());
        if warm.len() < WARM_PER_PLUGIN {
            warm.push(w);
        }
    }
}
